import CloudRecCore
import Foundation
import Yams

/// `--web.config.file` in the Prometheus exporter-toolkit format: TLS for the listener (optionally requiring client
/// certificates) and basic-auth users with bcrypt hashes. Read by the same strict reader as the main configuration, so
/// a problem names file, line, column and key, and never a hash.
///
/// ```yaml
/// tls_server_config:
///   cert_file: server.crt
///   key_file: server.key
///   client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default) | RequireAndVerifyClientCert
///   client_ca_file: clients-ca.crt
/// basic_auth_users:
///   prometheus: $2y$10$...
/// ```
public struct WebConfigFile: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        public var certFile: String
        public var keyFile: String
        public var clientCAFile: String?
        public var requireClientCert: Bool

        public init(certFile: String, keyFile: String, clientCAFile: String?, requireClientCert: Bool) {
            self.certFile = certFile
            self.keyFile = keyFile
            self.clientCAFile = clientCAFile
            self.requireClientCert = requireClientCert
        }
    }

    public var tls: TLS?
    /// User name → bcrypt hash.
    public var users: [String: String] = [:]

    public static let clientAuthTypes = ["NoClientCert", "RequireAndVerifyClientCert"]

    /// Reads and validates the file; relative paths are taken from the file's directory.
    public static func load(path: String, loader: ConfigLoader = ConfigLoader()) throws(ConfigErrors) -> WebConfigFile {
        let text: String
        do {
            text = try loader.readFile(path)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: path, keyPath: "", problem: "cannot read file: \(ConfigLoader.describe(error))")])
        }
        return try parse(yaml: text, file: path, loader: loader)
    }

    public static func parse(yaml: String, file: String, loader: ConfigLoader = ConfigLoader()) throws(ConfigErrors) -> WebConfigFile {
        try loader.read(yaml: yaml, file: file) { reader, root in reader.readWebConfig(root) }
    }
}

extension ConfigReader {
    mutating func readWebConfig(_ root: Node?) -> WebConfigFile {
        var config = WebConfigFile()
        guard let root else { return config }
        for entry in entries(root, "", allowed: ["tls_server_config", "basic_auth_users", "http_server_config"]) {
            switch entry.key {
            case "tls_server_config": config.tls = readServerTLS(entry.value)
            case "basic_auth_users": config.users = readUsers(entry.value)
            default: break // http_server_config: accepted for compatibility, nothing in it applies here
            }
        }
        return config
    }

    private mutating func readServerTLS(_ node: Node) -> WebConfigFile.TLS? {
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        var files: [String: String] = [:]
        var authType = "NoClientCert"
        for entry in entries(node, "tls_server_config", allowed: ["cert_file", "key_file", "client_auth_type", "client_ca_file"]) {
            let path = "tls_server_config.\(entry.key)"
            guard let value = string(entry.value, path) else { continue }
            if entry.key == "client_auth_type" {
                if WebConfigFile.clientAuthTypes.contains(value) { authType = value } else {
                    report(entry.value, path, "must be one of \(WebConfigFile.clientAuthTypes.joined(separator: ", "))")
                }
            } else {
                files[entry.key] = value.hasPrefix("/") ? value : base.appendingPathComponent(value).path
            }
        }
        guard case .mapping = node else { return nil }
        guard let cert = files["cert_file"], let key = files["key_file"] else {
            report(node, "tls_server_config", "cert_file and key_file are required")
            return nil
        }
        let requireClientCert = authType == "RequireAndVerifyClientCert"
        if requireClientCert, files["client_ca_file"] == nil {
            report(node, "tls_server_config.client_ca_file", "required with RequireAndVerifyClientCert")
        }
        return WebConfigFile.TLS(certFile: cert, keyFile: key, clientCAFile: files["client_ca_file"], requireClientCert: requireClientCert)
    }

    private mutating func readUsers(_ node: Node) -> [String: String] {
        var users: [String: String] = [:]
        for entry in entries(node, "basic_auth_users", allowed: nil) {
            // The hash is never echoed, and neither is a user name that is not a plain name.
            let shown = Self.isPlainKey(entry.key) ? entry.key : "<user not shown>"
            guard case let .scalar(scalar) = entry.value, scalar.string.hasPrefix("$2") else {
                report(entry.value, "basic_auth_users.\(shown)", "must be a bcrypt hash ($2a$, $2b$ or $2y$)")
                continue
            }
            users[entry.key] = scalar.string
        }
        return users
    }
}
