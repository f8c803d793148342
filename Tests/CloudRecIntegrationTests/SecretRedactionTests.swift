import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// No secret value in logs (debug level), /metrics, API answers, reload errors or probe output; credential files
/// are re-read on reload.
@Suite("Secret redaction", .serialized)
struct SecretRedactionTests {
    @Test("secrets never leave the process, and a rotated secret file is picked up on reload")
    func redaction() async throws {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-secret")
        let realSecret = zego.credentials["server_secret"]!
        let wrongSecret = "wrong-secret-value-9876543210"
        let token = "api-token-value-0123456789abcdef"
        zego.book.start(id: "s-1")
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let host = SimulatorHost(simulator: zego.simulator, logger: logger)
        let group = ServiceGroup(services: [host], logger: logger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secretFile = directory.appendingPathComponent("zego.secret").path
        let configFile = directory.appendingPathComponent("config.yml").path
        let logFile = directory.appendingPathComponent("exporter.log")

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let endpoint = await host.baseURL()
            func writeConfig(extra: String = "") throws {
                try """
                global: { poll_interval: 300ms }
                api: { token: \(token) }
                accounts:
                  - name: zego-secret
                    vendor: zego
                    endpoint: \(endpoint)
                    app_id: \(zego.fields["app_id"]!)
                    credentials: { server_secret_file: \(secretFile) }
                \(extra)
                tasks:
                  - { account: zego-secret, id: s-1 }
                """.write(toFile: configFile, atomically: true, encoding: .utf8)
            }
            try wrongSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
            try writeConfig()
            FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let log = try FileHandle(forWritingTo: logFile)
            let port = DiscoveryTests.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
            process.arguments = ["--config.file", configFile, "--storage.path", directory.appendingPathComponent("db/c.db").path,
                                 "--web.listen-address", "127.0.0.1:\(port)", "--log.level", "debug", "--log.format", "json"]
            process.standardError = log
            process.standardOutput = log
            try process.run()
            let base = "http://127.0.0.1:\(port)"
            var outputs: [String] = []
            var failure: (any Error)?
            do {
                func metrics() async throws -> Metrics {
                    Metrics(text: String(decoding: try await Harness.request(base + "/metrics").body, as: UTF8.self))
                }
                try await eventually("auth errors with the wrong secret") {
                    (try? await metrics().outcomes(account: "zego-secret", "auth_error")).map { $0 > 0 } == true
                }
                outputs.append(try await metrics().text)
                for path in ["/api/v1/tasks", "/api/v1/tasks/zego-secret/s-1"] {
                    let answer = try await Harness.request(base + path, headers: [("Authorization", "Bearer \(token)")])
                    #expect(answer.status == 200)
                    outputs.append(String(decoding: answer.body, as: UTF8.self))
                }
                outputs.append(String(decoding: try await Harness.request(base + "/").body, as: UTF8.self))
                // A bad reload whose file holds secrets inline: the error names the key, not the values.
                try writeConfig(extra: "    bogus_key: \"\(realSecret)\"\n    other: { customer_secret \"\(wrongSecret)\" }")
                let rejected = try await Harness.request(base + "/-/reload", method: .POST)
                #expect(rejected.status == 500)
                outputs.append(String(decoding: rejected.body, as: UTF8.self))
                // Rotate the secret file: a reload picks the new value up.
                try writeConfig()
                try realSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
                #expect(try await Harness.request(base + "/-/reload", method: .POST).status == 200)
                try await eventually("polling succeeds with the rotated secret") {
                    try await metrics().status(account: "zego-secret", task: "s-1") == "running"
                }
                let probe = try CommandLineTests.run(["probe", "--config.file", configFile, "--account", "zego-secret", "--task", "s-1"])
                #expect(probe.status == 0)
                outputs += [probe.stdout, probe.stderr]
                let check = try CommandLineTests.run(["check-config", configFile + ".missing"])
                outputs += [check.stdout, check.stderr]
            } catch {
                failure = error
            }
            process.terminate()
            process.waitUntilExit()
            try log.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if let failure { throw failure }

            let logText = try String(contentsOf: logFile, encoding: .utf8)
            #expect(logText.contains("vendor call failed"), "the auth failure was logged")
            outputs.append(logText)
            for output in outputs {
                for secret in [realSecret, wrongSecret, token] {
                    #expect(!output.contains(secret), "a secret leaked into: \(output.prefix(300))")
                }
            }
        }
    }
}
