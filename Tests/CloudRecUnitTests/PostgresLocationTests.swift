import CloudRecCore
import CloudRecStorage
import Foundation
import PropertyBased
import Testing

/// `--storage.url` (PostgresLocation.parse): every generated URL is either read into a location with a port in
/// range and a named database, or refused with a reason that never contains the password.
@Suite("PostgreSQL URL parsing")
struct PostgresLocationTests {
    static let pieces = ["postgres://", "postgresql://", "mysql://", "u", "user", ":", "@", "pw-SECRET", "h", "db.example", "[::1]",
                         "127.0.0.1", ":5432", ":0", ":65535", ":65536", ":99999999999999999999", ":-1", ":nan", "/", "/db", "/db/x",
                         "?", "&", "sslmode=disable", "sslmode=require", "sslmode=verify-full", "sslmode=prefer", "sslrootcert=/x.pem",
                         "x=1", "%00", "%zz", "#frag", " ", "\u{0}", "é", "\n"]

    @Test("known URLs are read as documented")
    func documented() throws {
        let full = try PostgresLocation.parse("postgres://cloudrec:pw@db.internal:6543/fleet?sslmode=require&sslrootcert=/ca.pem")
        #expect(full.host == "db.internal")
        #expect(full.port == 6543)
        #expect(full.user == "cloudrec")
        #expect(full.password?.reveal() == "pw")
        #expect(full.database == "fleet")
        #expect(full.tlsMode == .require)
        #expect(full.rootCertificateFile == "/ca.pem")
        #expect(!full.redacted.contains("pw"))
        let plain = try PostgresLocation.parse("postgresql://u@h/db")
        #expect(plain.port == 5432)
        #expect(plain.tlsMode == .verifyFull, "verify-full unless told otherwise")
    }

    @Test("generated URLs never trap, and a refusal never shows the password")
    func generated() async {
        let pieces = Gen.int(in: 0...(Self.pieces.count - 1)).array(of: 1...14)
        await propertyCheck(count: FuzzTests.iterations, input: pieces) { indices in
            let text = indices.map { Self.pieces[$0] }.joined()
            // Whatever the URL grammar takes as the password (the same piece elsewhere is a user or a host name).
            let password = URLComponents(string: text)?.password.flatMap { $0.isEmpty ? nil : $0 }
            do {
                let location = try PostgresLocation.parse(text)
                #expect(PostgresLocation.portRange.contains(location.port))
                #expect(!location.database.isEmpty && !location.host.isEmpty && !location.user.isEmpty)
                if let password { #expect(!location.redacted.contains(":\(password)@")) }
            } catch {
                if let password { #expect(!"\(error)".contains(password), "\(error)") }
            }
        }
    }
}
