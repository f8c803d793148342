import AsyncHTTPClient
@testable import CloudRecHTTP
import CloudRecSimulatorServer
import CloudRecTestSupport
import Foundation
import NIOCore
import NIOSSL
import Testing

/// `--web.config.file`: TLS on the listener and bcrypt basic auth on every endpoint but the API and callbacks.
@Suite("Secure serving (--web.config.file)", .serialized)
struct WebConfigTests {
    /// bcrypt of "secret" (cost 10), computed with libxcrypt.
    static let hash = "$2b$10$abcdefghijklmnopqrstuuqflPDzB6gcMhKa1rZqKiun2YGL5sa2u"

    @Test("TLS with a test CA, 401 without or with wrong credentials, 200 with the right ones; the API keeps its token")
    func tlsAndBasicAuth() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A throwaway CA and a server certificate for 127.0.0.1, made for this test run only.
        let ca = try ThrowawayCA.make(in: directory.path)
        try """
        tls_server_config:
          cert_file: server.pem
          key_file: server.key
        basic_auth_users:
          prometheus: \(Self.hash)
        """.write(to: directory.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
        let token = "web-test-token-0123456789"
        try """
        api:
          token: \(token)
        accounts:
          - name: zego-web
            vendor: zego
            endpoint: http://127.0.0.1:9
            app_id: 1
            credentials: { server_secret: "s" }
        """.write(to: directory.appendingPathComponent("config.yml"), atomically: true, encoding: .utf8)

        let port = DiscoveryTests.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
        process.arguments = ["--config.file", directory.appendingPathComponent("config.yml").path,
                             "--web.config.file", directory.appendingPathComponent("web.yml").path,
                             "--storage.path", directory.appendingPathComponent("db/c.db").path,
                             "--web.listen-address", "127.0.0.1:\(port)", "--log.level", "error"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca.caFile)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        func get(_ path: String, _ authorization: String?) async throws -> Int {
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)")
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 24)
            return Int(response.status.code)
        }
        var failure: (any Error)?
        do { try await checks() } catch { failure = error }
        try await client.shutdown()
        if let failure { throw failure }

        func checks() async throws {
        let good = "Basic " + Data("prometheus:secret".utf8).base64EncodedString()
        try await eventually("exporter serving TLS") { (try? await get("/-/healthy", good)) == 200 }
        #expect(try await get("/metrics", nil) == 401, "unauthenticated scrape")
        #expect(try await get("/metrics", "Basic " + Data("prometheus:wrong".utf8).base64EncodedString()) == 401)
        #expect(try await get("/metrics", "Basic " + Data("nobody:secret".utf8).base64EncodedString()) == 401)
        #expect(try await get("/metrics", good) == 200)
        #expect(try await get("/", nil) == 401)
        #expect(try await get("/api/v1/tasks", "Bearer \(token)") == 200, "the API keeps its own bearer token")
        #expect(try await get("/api/v1/tasks", good) == 401, "basic auth is no key to the API")

        // Plain HTTP is not served on the TLS port.
        #expect((try? await Harness.request("http://127.0.0.1:\(port)/-/healthy").status) != 200)
        }
    }

    @Test("a wrong password and an unknown user cost the same bcrypt work (no timing oracle for user names)")
    func constantTimeRejection() {
        // Cost 12 (python3 crypt.crypt("secret", mksalt(METHOD_BLOWFISH, rounds=2**12))): slow enough that bcrypt
        // dominates every other cost of the check.
        let slowHash = "$2b$12$G2mlggHJbdFGxylBJniTA.Pz3jwCDormdBQSyloMscI3/TC0jxs.K"
        let middleware = BasicAuthMiddleware(users: ["prometheus": slowHash, "grafana": Self.hash])
        func median(_ user: String, _ password: String) -> Double {
            var times: [Double] = []
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                #expect(!middleware.verify(user: user, password: password))
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return times.sorted()[1]
        }
        let wrongPassword = median("prometheus", "wrong")
        let unknownUser = median("nobody", "secret")
        let ratio = unknownUser / wrongPassword
        #expect(ratio > 0.6 && ratio < 1.6, "unknown user \(unknownUser)s vs wrong password \(wrongPassword)s")
        #expect(middleware.verify(user: "prometheus", password: "secret"), "the right password still passes")
        #expect(!middleware.verify(user: "nobody", password: ""), "an empty password never matches the dummy hash")
    }
}

