import CloudRecConfig
import Foundation
import Testing

/// `--web.config.file` read by the main configuration's strict reader: problems carry file, line and key, never a
/// bcrypt hash; relative paths are taken from the file's directory.
@Suite("Web configuration file")
struct WebConfigFileTests {
    static let hash = "$2y$10$abcdefghijklmnopqrstuuJ2.CjNOmGX0P3YGuBrS3tdEvYHLiS3K"

    @Test func readsTLSAndUsers() throws {
        let config = try WebConfigFile.parse(yaml: """
            tls_server_config:
              cert_file: server.crt
              key_file: /etc/keys/server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: clients.crt
            basic_auth_users:
              prometheus: "\(Self.hash)"
            """, file: "/etc/cloudrec/web.yml")
        #expect(config.tls == WebConfigFile.TLS(certFile: "/etc/cloudrec/server.crt", keyFile: "/etc/keys/server.key",
                                                clientCAFile: "/etc/cloudrec/clients.crt", requireClientCert: true))
        #expect(config.users == ["prometheus": Self.hash])
    }

    @Test("problems name file, line and key, and never the hash", arguments: [
        ("tls_server_config:\n  cert_file: a.crt\n", "tls_server_config", 2, "cert_file and key_file are required"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n", "tls_server_config.client_auth_type", 4, "must be one of"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "tls_server_config.client_ca_file", 2, "required with"),
        ("basic_auth_users:\n  admin: plain-password-not-a-hash\n", "basic_auth_users.admin", 2, "must be a bcrypt hash"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n", "tls_server_config.cipher_suites", 4, "unknown key"),
        ("colour: blue\n", "colour", 1, "unknown key"),
    ])
    func problems(_ yaml: String, _ keyPath: String, _ line: Int, _ message: String) {
        do {
            _ = try WebConfigFile.parse(yaml: yaml, file: "web.yml")
            Issue.record("expected a problem for \(keyPath)")
        } catch {
            let problem = error.problems.first { $0.keyPath == keyPath }
            #expect(problem?.line == line, "\(error)")
            #expect(problem?.problem.contains(message) == true, "\(error)")
            #expect(!error.description.contains("plain-password-not-a-hash"))
        }
    }
}
