import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The built `cloudrec_exporter` binary: check-config and probe.
@Suite("Command line")
struct CommandLineTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = packageRoot.appendingPathComponent(".build/debug/cloudrec_exporter").path

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    static func temporaryFile(_ content: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-\(UUID().uuidString).yml").path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("check-config accepts a valid file with exit 0")
    func checkConfigValid() throws {
        let path = try Self.temporaryFile("""
        accounts:
          - name: zego-main
            vendor: zego
            app_id: 1234567890
            credentials: { server_secret: "0123456789abcdef" }
        tasks:
          - { account: zego-main, id: X3CgNeE4I1qAAABN }
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.run(["check-config", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("OK (1 accounts, 1 tasks)"))
    }

    @Test("check-config lists every problem with file, line and key, exits 2, and never prints a secret")
    func checkConfigInvalid() throws {
        let path = try Self.temporaryFile("""
        global:
          poll_interval: 30x
        accounts:
          - name: agora-main
            vendor: agora
            app_id: abc
            colour: blue
            credentials: { customer_id: cid, customer_secret: "super-secret-value" }
          - name: agora-main
            vendor: agora
            app_id: abc
            credentials: { customer_id: cid, customer_secret_file: /nonexistent/secret }
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.run(["check-config", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(path):2:18: global.poll_interval: invalid duration \"30x\""))
        #expect(result.stderr.contains("\(path):7:5: accounts[0].colour: unknown key"))
        #expect(result.stderr.contains("accounts[1].credentials.customer_secret_file: cannot read secret file /nonexistent/secret"))
        #expect(result.stderr.contains("duplicate account name \"agora-main\"") || result.stderr.contains("accounts[1]"))
        #expect(!result.stderr.contains("super-secret-value"))
    }

    @Test("probe prints the normalised status as JSON without credentials")
    func probe() async throws {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-probe")
        zego.book.start(id: "probe-task")
        zego.book.addFile("probe-task", name: "probe.mp4", format: .mp4, uploadState: .uploaded)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let host = SimulatorHost(simulator: zego.simulator, logger: logger)
        let group = ServiceGroup(services: [host], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let secret = zego.credentials["server_secret"]!
            let path = try Self.temporaryFile("""
            accounts:
              - name: zego-probe
                vendor: zego
                endpoint: \(await host.baseURL())
                app_id: \(zego.fields["app_id"]!)
                credentials: { server_secret: "\(secret)" }
            """)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let ok = try Self.run(["probe", "--config.file", path, "--account", "zego-probe", "--task", "probe-task"])
            let missing = try Self.run(["probe", "--config.file", path, "--account", "zego-probe", "--task", "no-such-task"])
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()

            #expect(ok.status == 0, "\(ok.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
            #expect(json["outcome"] as? String == "success")
            let observation = try #require(json["observation"] as? [String: Any])
            #expect(observation["status"] as? String == "running")
            #expect((observation["files"] as? [[String: Any]])?.first?["upload_state"] as? String == "uploaded")
            #expect(missing.status == 1)
            #expect(missing.stdout.contains("\"outcome\":\"not_found\""))
            #expect(missing.stdout.contains("\"vendor_code\":\"300001000\""))
            for output in [ok.stdout, ok.stderr, missing.stdout, missing.stderr] { #expect(!output.contains(secret)) }
        }
    }

    @Test("HA flags: a bad --storage.url, --ha.* value or combination is refused with a clear reason and never echoes the password",
          arguments: [
              (["--storage.url", "mysql://u@h/db"], "--storage.url must look like"),
              (["--storage.url", "postgres://u:hunter22@h:99999/db"], "port 99999 is outside"),
              (["--storage.url", "postgres://u:hunter22@h/db?sslmode=bogus"], "sslmode must be one of"),
              (["--storage.url", "postgres://u@h/db?sslrootcert=x&opt=1"], "unknown parameter"),
              (["--storage.url", "postgres://u@h/"], "the database name is missing"),
              (["--storage.url", "postgres://u@h/db", "--ha.lease-duration", "1s"], "--ha.lease-duration must be a duration"),
              (["--storage.url", "postgres://u@h/db", "--ha.lease-duration", "nan"], "--ha.lease-duration must be a duration"),
              (["--storage.url", "postgres://u@h/db", "--ha.resync-interval", "1e308s"], "--ha.resync-interval must be a duration"),
              (["--storage.url", "postgres://u@h/db", "--ha.replica-id", "a b\u{0}"], "--ha.replica-id must be"),
              (["--storage.url", "postgres://u@h/db", "--total-shards", "2"], "cannot be combined"),
              (["--storage.url", "postgres://u@h/db", "--storage.path", "/tmp/x.db"], "cannot be combined"),
          ])
    func haFlags(_ arguments: [String], _ reason: String) throws {
        let config = try Self.temporaryFile("accounts: []\n")
        defer { try? FileManager.default.removeItem(atPath: config) }
        let result = try Self.run(["serve", "--config.file", config] + arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(reason), "\(result.stderr)")
        #expect(!result.stderr.contains("hunter22") && !result.stdout.contains("hunter22"))
    }
}
