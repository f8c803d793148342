import CCrypt
import CloudRecConfig
import CloudRecCore
import Crypto
import Foundation
import Hummingbird
import NIOSSL
import Synchronization

/// The listener's side of `--web.config.file` (read and validated by `WebConfigFile` in CloudRecConfig): TLS for the
/// listener (optionally requiring client certificates) and basic-auth users with bcrypt hashes.
public struct WebConfig: Sendable {
    public typealias TLS = WebConfigFile.TLS

    public var tls: TLS?
    /// User name → bcrypt hash.
    public var users: [String: String]

    public init(tls: TLS? = nil, users: [String: String] = [:]) {
        self.tls = tls
        self.users = users
    }

    public static let clientAuthTypes = WebConfigFile.clientAuthTypes

    /// Reads and validates the file; problems name the file, line and key, never a hash.
    public static func load(path: String) throws(ConfigErrors) -> WebConfig {
        let file = try WebConfigFile.load(path: path)
        return WebConfig(tls: file.tls, users: file.users)
    }

    /// The listener's TLS configuration, or a clear error about the files.
    public func serverTLSConfiguration() throws -> TLSConfiguration? {
        guard let tls else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            if tls.requireClientCert, let ca = tls.clientCAFile {
                configuration.trustRoots = .file(ca)
                configuration.certificateVerification = .noHostnameVerification
            }
            return configuration
        } catch {
            throw ExporterWebError("cannot load TLS certificate or key (\(tls.certFile), \(tls.keyFile)): \(error)")
        }
    }
}

public struct ExporterWebError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Basic auth on every exporter endpoint except those with their own authentication: the registration API (bearer
/// token) and vendor callbacks (vendor signatures). bcrypt is slow on purpose, so a verified user/password pair is
/// cached by its SHA-256 for a minute. An unknown user is checked against a dummy hash of the highest cost
/// configured, so a wrong password and an unknown user take the same bcrypt work: timing reveals neither.
public struct BasicAuthMiddleware: RouterMiddleware {
    public typealias Context = BasicRequestContext
    let users: [String: String]
    let cache = VerifiedCache()
    /// Matches no password: its checksum part is not any password's (verified against the computed hash as a whole).
    let dummyHash: String
    static let exemptPrefixes = ["/api/", "/callbacks/"]

    public init(users: [String: String]) {
        self.users = users
        let cost = users.values.compactMap(Self.cost).max() ?? 10
        dummyHash = "$2b$" + (cost < 10 ? "0" : "") + "\(cost)$" + "cloudrecDummySaltForNo" + String(repeating: ".", count: 31)
    }

    /// The cost of a `$2a$`/`$2b$`/`$2y$` hash.
    static func cost(of hash: String) -> Int? {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, ["2a", "2b", "2y"].contains(parts[1]), let cost = Int(parts[2]) else { return nil }
        return cost
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.exemptPrefixes.contains(where: { path.hasPrefix($0) }) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":") else {
            return Self.unauthorized()
        }
        let user = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        guard verify(user: user, password: password) else { return Self.unauthorized() }
        return try await next(request, context)
    }

    func verify(user: String, password: String) -> Bool {
        let key = Data(SHA256.hash(data: Data("\(user)\u{0}\(password)".utf8)))
        if cache.contains(key) { return true }
        let hash = users[user]
        let matches = ccrypt_verify(password, hash ?? dummyHash) == 1 && hash != nil
        if matches { cache.insert(key) }
        return matches
    }

    static func unauthorized() -> Response {
        var response = ExporterRouter.jsonResponse(.unauthorized, .obj(("error", "authentication required")))
        response.headers[.wwwAuthenticate] = "Basic realm=\"cloudrec_exporter\""
        return response
    }
}

final class VerifiedCache: Sendable {
    private let entries = Mutex<[Data: Date]>([:])

    func contains(_ key: Data) -> Bool {
        entries.withLock { all in
            guard let expiry = all[key] else { return false }
            if expiry < Date() {
                all.removeValue(forKey: key)
                return false
            }
            return true
        }
    }

    func insert(_ key: Data) {
        entries.withLock { all in
            if all.count > 1000 { all.removeAll() }
            all[key] = Date().addingTimeInterval(60)
        }
    }
}
