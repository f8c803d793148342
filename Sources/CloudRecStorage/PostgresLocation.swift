import CloudRecCore
import Foundation
import NIOSSL
import PostgresNIO

/// Where the shared task store lives: `--storage.url postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=MODE`.
///
/// `sslmode` is `disable`, `require` (TLS, the server certificate verified against the system roots or `sslrootcert`)
/// or `verify-full` (the same, and the host name checked; the default). The password comes from
/// `--storage.password-file` or `CLOUDREC_STORAGE_PASSWORD`; one in the URL is accepted but never logged (`redacted`).
///
/// Hand-written on Foundation's `URLComponents`: postgres-nio takes a host, port, user and database, not a URL, and
/// PostgresKit's URL parser would bring sql-kit and async-kit for these few lines.
public struct PostgresLocation: Sendable {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: Secret?
    public var database: String
    public var tlsMode: TLSMode
    public var rootCertificateFile: String?

    /// Ports a PostgreSQL server can listen on.
    public static let portRange = 1...65_535

    public static func parse(_ text: String) throws(StorageError) -> PostgresLocation {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw StorageError("--storage.url must look like postgres://user@host:5432/database (without a password: use --storage.password-file)")
        }
        guard let host = url.host, !host.isEmpty else { throw StorageError("--storage.url: the host is missing") }
        guard let user = url.user, !user.isEmpty else { throw StorageError("--storage.url: the user is missing") }
        var port = 5432
        if let given = url.port {
            guard portRange.contains(given) else { throw StorageError("--storage.url: port \(given) is outside \(portRange)") }
            port = given
        }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw StorageError("--storage.url: the database name is missing") }
        var tlsMode = TLSMode.verifyFull
        var rootCertificateFile: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw StorageError("--storage.url: sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tlsMode = mode
            case "sslrootcert":
                rootCertificateFile = item.value
            default:
                throw StorageError("--storage.url: unknown parameter \"\(ExternalText.excerpt(item.name))\" (sslmode and sslrootcert are known)")
            }
        }
        return PostgresLocation(host: host, port: port, user: user, password: url.password.map(Secret.init), database: database,
                                tlsMode: tlsMode, rootCertificateFile: rootCertificateFile)
    }

    /// The URL without its password, for logs.
    public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)" }

    /// The client TLS settings for `sslmode` (nil: `disable`).
    func tlsConfiguration() throws(StorageError) -> TLSConfiguration? {
        guard tlsMode != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tlsMode == .require { configuration.certificateVerification = .noHostnameVerification }
        if let rootCertificateFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificateFile))
            } catch {
                throw StorageError("--storage.url: cannot read sslrootcert \(rootCertificateFile): \(error)")
            }
        }
        return configuration
    }

    func clientConfiguration() throws(StorageError) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password?.reveal(),
                                                         database: database, tls: .disable)
        if let tls = try tlsConfiguration() { configuration.tls = .require(tls) }
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 8
        return configuration
    }

    func connectionConfiguration() throws(StorageError) -> PostgresConnection.Configuration {
        var tls = PostgresConnection.Configuration.TLS.disable
        if let configuration = try tlsConfiguration() {
            do {
                tls = .require(try NIOSSLContext(configuration: configuration))
            } catch {
                throw StorageError("--storage.url: TLS setup failed: \(error)")
            }
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password?.reveal(), database: database,
                                                tls: tls)
    }
}
