import CloudRecConfig
import Testing

@Suite("tls_ca_file in the configuration")
struct TLSCAConfigTests {
    static func yaml(_ caLine: String) -> String {
        """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: 0123456789abcdef0123456789abcdef
            endpoint: https://gateway.internal:8443
        \(caLine)
            credentials: { customer_id: c, customer_secret: s }
        """
    }

    static let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    static func loader(_ files: [String: String]) -> ConfigLoader {
        ConfigLoader(environment: [:], readFile: { path in
            guard let content = files[path] else { throw CocoaLikeError.missing }
            return content
        })
    }

    enum CocoaLikeError: Error { case missing }

    @Test("a readable PEM CA file is accepted and kept on the account")
    func accepted() throws {
        let config = try Self.loader(["/etc/cloudrec/ca.pem": Self.pem])
            .parse(yaml: Self.yaml("    tls_ca_file: /etc/cloudrec/ca.pem"), file: "c.yml")
        #expect(config.accounts.first?.tlsCAFile == "/etc/cloudrec/ca.pem")
    }

    @Test("a missing file or a file without a certificate is reported with the key path", arguments: [
        ([String: String](), "cannot read CA file /etc/cloudrec/ca.pem"),
        (["/etc/cloudrec/ca.pem": "-----BEGIN PRIVATE KEY-----\nx\n"], "holds no PEM certificate"),
    ])
    func rejected(files: [String: String], message: String) {
        do {
            _ = try Self.loader(files).parse(yaml: Self.yaml("    tls_ca_file: /etc/cloudrec/ca.pem"), file: "c.yml")
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.keyPath == "accounts[0].tls_ca_file")
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("without tls_ca_file the account uses the system trust store")
    func absent() throws {
        let config = try Self.loader([:]).parse(yaml: Self.yaml(""), file: "c.yml")
        #expect(config.accounts.first?.tlsCAFile == nil)
    }
}
