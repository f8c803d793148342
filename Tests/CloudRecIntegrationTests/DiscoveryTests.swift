import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

/// Registration API, durable store and discovery files, against the real binary where restarts are involved.
@Suite("Task discovery and durable state", .serialized)
struct DiscoveryTests {
    static let token = "test-token-0123456789abcdef"

    /// Starts a ZEGO simulator on loopback and writes a config pointing at it.
    static func withZego(_ body: (SimulatedAccount, String, URL) async throws -> Void) async throws {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-d")
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let host = SimulatorHost(simulator: zego.simulator, logger: logger)
        let group = ServiceGroup(services: [host], logger: logger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-disc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let config = """
            global:
              poll_interval: 300ms
            api:
              token: \(token)
              labels: [team]
            task_files: ["tasks.d/*.yaml"]
            accounts:
              - name: zego-d
                vendor: zego
                endpoint: \(await host.baseURL())
                app_id: \(zego.fields["app_id"]!)
                credentials: { server_secret: "\(zego.credentials["server_secret"]!)" }
            """
            let configPath = directory.appendingPathComponent("config.yml").path
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("tasks.d"), withIntermediateDirectories: true)
            var failure: (any Error)?
            do { try await body(zego, configPath, directory) } catch { failure = error }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if let failure { throw failure }
        }
    }

    /// The exporter binary as a child process on a free port.
    /// Foundation.Process is not Sendable; the test only kills it from one task at a time.
    final class ExporterProcess: @unchecked Sendable {
        let process = Process()
        let port: Int
        var base: String { "http://127.0.0.1:\(port)" }

        /// With `logFile`, info-level logs go to that file (tests that read what the exporter did).
        /// `arguments` are added to the command line (connection limits, web config).
        init(config: String, storage: String, port: Int, logFile: String? = nil, arguments: [String] = []) throws {
            self.port = port
            process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
            process.arguments = ["--config.file", config, "--storage.path", storage, "--web.listen-address", "127.0.0.1:\(port)",
                                 "--log.level", logFile == nil ? "error" : "info"] + arguments
            process.standardOutput = FileHandle.nullDevice
            if let logFile {
                FileManager.default.createFile(atPath: logFile, contents: nil)
                process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
            } else {
                process.standardError = FileHandle.nullDevice
            }
            try process.run()
        }

        var pid: pid_t { process.processIdentifier }

        func waitReady() async throws {
            try await eventually("exporter ready on \(port)") {
                // A process that exited (a bad flag, a port taken meanwhile) will never be ready: say so at once.
                guard self.process.isRunning else {
                    throw TestFailure("the exporter exited with status \(self.process.terminationStatus) before it was ready on \(self.port)")
                }
                return (try? await Harness.request(self.base + "/-/ready").status) == 200
            }
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    /// A port the kernel says is free now (bound to port 0 on loopback, then closed). A random number could be a port
    /// another test's server, a PostgreSQL of the test command or an outgoing connection held (a start then failed
    /// with "address in use" and the test waited out its readiness deadline).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return Int.random(in: 20000..<30000) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else { return Int.random(in: 20000..<30000) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func api(_ base: String, _ method: NIOHTTP1.HTTPMethod, _ path: String, body: String? = nil,
                    token: String? = DiscoveryTests.token) async throws -> (status: Int, json: [String: Any]) {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let response = try await Harness.request(base + path, method: method, headers: headers, body: body.map { Array($0.utf8) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
        return (response.status, json)
    }

    @Test("every bad registration gets a 4xx with a JSON reason")
    func badRegistrations() async throws {
        try await Self.withZego { _, config, directory in
            let exporter = try ExporterProcess(config: config, storage: directory.appendingPathComponent("db/c.db").path, port: Self.freePort())
            defer { exporter.stop() }
            try await exporter.waitReady()
            let base = exporter.base
            let cases: [(String, NIOHTTP1.HTTPMethod, String, String?, String?, Int)] = [
                ("missing token", .PUT, "/api/v1/tasks/zego-d/t1", "{}", nil, 401),
                ("wrong token", .PUT, "/api/v1/tasks/zego-d/t1", "{}", "wrong-token-0000000000", 401),
                ("malformed JSON", .PUT, "/api/v1/tasks/zego-d/t1", "{\"labels\": ", Self.token, 400),
                ("not an object", .PUT, "/api/v1/tasks/zego-d/t1", "[1,2]", Self.token, 400),
                ("unknown account", .PUT, "/api/v1/tasks/nobody/t1", "{}", Self.token, 404),
                ("unknown field", .PUT, "/api/v1/tasks/zego-d/t1", "{\"resource_id\": \"x\"}", Self.token, 400),
                ("label not allowed", .PUT, "/api/v1/tasks/zego-d/t1", "{\"labels\": {\"owner\": \"x\"}}", Self.token, 400),
                ("oversized body", .PUT, "/api/v1/tasks/zego-d/t1", "{\"labels\": {\"team\": \"\(String(repeating: "x", count: 70_000))\"}}", Self.token, 413),
                ("unknown task", .GET, "/api/v1/tasks/zego-d/nothing", nil, Self.token, 404),
                ("bad filter", .GET, "/api/v1/tasks?status=sleeping", nil, Self.token, 400),
                ("bad page size", .GET, "/api/v1/tasks?page_size=0", nil, Self.token, 400),
                ("delete unregistered", .DELETE, "/api/v1/tasks/zego-d/nothing", nil, Self.token, 404),
                // The rules api/openapi.yaml states (schemathesis checks the document against the server).
                ("account filter no account can have", .GET, "/api/v1/tasks?account=%C3%97%C3%B8", nil, Self.token, 400),
                ("account no account can have", .PUT, "/api/v1/tasks/zego%20d/t1", "{}", Self.token, 404),
                ("task id with a control character", .PUT, "/api/v1/tasks/zego-d/t%01", "{}", Self.token, 400),
                ("task id of 257 code points", .PUT, "/api/v1/tasks/zego-d/" + String(repeating: "e%CC%81", count: 129), "{}", Self.token, 400),
                ("label value with a NUL", .PUT, "/api/v1/tasks/zego-d/t1", "{\"labels\": {\"team\": \"a\\u0000b\"}}", Self.token, 400),
                ("label value of 129 code points", .PUT, "/api/v1/tasks/zego-d/t1",
                 "{\"labels\": {\"team\": \"\(String(repeating: "e\u{301}", count: 65))\"}}", Self.token, 400),
            ]
            for (name, method, path, body, token, expected) in cases {
                let response = try await Self.api(base, method, path, body: body, token: token)
                #expect(response.status == expected, "\(name)")
                #expect(response.json["error"] is String, "\(name): JSON reason")
            }
            // The exporter keeps serving.
            #expect(try await Harness.request(base + "/metrics").status == 200)
        }
    }

    @Test("API, files and config feed one task; state survives kill -9 in the middle of a registration burst")
    func durability() async throws {
        try await Self.withZego { zego, config, directory in
            let storage = directory.appendingPathComponent("data/cloudrec.db").path
            for index in 0..<400 { zego.book.start(id: "burst-\(index)") }
            zego.book.start(id: "file-task")
            zego.book.start(id: "ended-task")
            zego.book.setPhase("ended-task", .ended)
            try "- { account: zego-d, id: file-task }\n".write(
                toFile: directory.appendingPathComponent("tasks.d/a.yaml").path, atomically: true, encoding: .utf8)

            let first = try ExporterProcess(config: config, storage: storage, port: Self.freePort())
            try await first.waitReady()
            let registered = try await Self.api(first.base, .PUT, "/api/v1/tasks/zego-d/file-task", body: "{\"labels\": {\"team\": \"media\"}}")
            #expect(registered.status == 200, "already known from the discovery file, so not new")
            #expect((registered.json["sources"] as? [String])?.sorted() == ["api", "file"])
            #expect(try await Self.api(first.base, .PUT, "/api/v1/tasks/zego-d/ended-task").status == 201)
            try await eventually("ended task seen as completed") {
                try await Self.api(first.base, .GET, "/api/v1/tasks/zego-d/ended-task").json["status"] as? String == "completed"
            }

            // A burst of registrations from several clients; kill -9 while it runs.
            let acknowledged = AcknowledgedSet()
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for client in 0..<8 {
                    clients.addTask {
                        for index in stride(from: client, to: 400, by: 8) {
                            guard let response = try? await Self.api(first.base, .PUT, "/api/v1/tasks/zego-d/burst-\(index)") else { return }
                            if response.status == 201 { acknowledged.insert("burst-\(index)") }
                        }
                    }
                }
                clients.addTask {
                    try await eventually("some registrations acknowledged") { acknowledged.count >= 100 }
                    first.kill9()
                }
                try await clients.waitForAll()
            }
            let acked = acknowledged.all
            #expect(acked.count >= 100 && acked.count < 400, "killed in the middle of the burst (\(acked.count) acknowledged)")

            let second = try ExporterProcess(config: config, storage: storage, port: Self.freePort())
            defer { second.stop() }
            try await second.waitReady()
            var listed = Set<String>()
            var token: String?
            repeat {
                let query = "/api/v1/tasks?account=zego-d&page_size=500" + (token.map { "&page_token=\($0)" } ?? "")
                let page = try await Self.api(second.base, .GET, query)
                for task in page.json["tasks"] as? [[String: Any]] ?? [] { listed.insert(task["task_id"] as! String) }
                token = page.json["next_page_token"] as? String
            } while token != nil
            #expect(acked.isSubset(of: listed), "every acknowledged registration survived kill -9")
            #expect(listed.contains("file-task"))
            let ended = try await Self.api(second.base, .GET, "/api/v1/tasks/zego-d/ended-task")
            #expect(ended.json["status"] as? String == "completed", "a finished task is not announced as new after restart")
            try await eventually("acknowledged tasks exported after restart") {
                let metrics = Metrics(text: String(decoding: try await Harness.request(second.base + "/metrics").body, as: UTF8.self))
                return acked.allSatisfy { metrics.has("cloudrec_task_status", ["task_id": $0]) }
                    && metrics.value("cloudrec_task_labels", ["task_id": "file-task", "label_team": "media"]) == 1
            }
        }
    }

    @Test("a broken discovery file is reported and its previous tasks are kept")
    func brokenDiscoveryFile() async throws {
        try await Self.withZego { zego, config, directory in
            zego.book.start(id: "f-1")
            let file = directory.appendingPathComponent("tasks.d/team.yaml").path
            try "- { account: zego-d, id: f-1 }\n".write(toFile: file, atomically: true, encoding: .utf8)
            let exporter = try ExporterProcess(config: config, storage: directory.appendingPathComponent("d/c.db").path, port: Self.freePort())
            defer { exporter.stop() }
            try await exporter.waitReady()
            func metrics() async throws -> Metrics {
                Metrics(text: String(decoding: try await Harness.request(exporter.base + "/metrics").body, as: UTF8.self))
            }
            try await eventually("file task running") { try await metrics().status(account: "zego-d", task: "f-1") == "running" }
            #expect(try await metrics().value("cloudrec_discovery_file_load_successful", ["path": file]) == 1)
            try "- { account: zego-d, id: f-2\n  broken: [".write(toFile: file, atomically: true, encoding: .utf8)
            try await eventually("broken file reported") {
                try await metrics().value("cloudrec_discovery_file_load_successful", ["path": file]) == 0
            }
            let m = try await metrics()
            #expect(m.status(account: "zego-d", task: "f-1") == "running", "previous content kept")
            #expect((m.value("cloudrec_discovery_file_errors_total", ["path": file]) ?? 0) >= 1)
        }
    }
}

final class AcknowledgedSet: Sendable {
    private let ids = Mutex<Set<String>>([])
    func insert(_ id: String) { _ = ids.withLock { $0.insert(id) } }
    var count: Int { ids.withLock { $0.count } }
    var all: Set<String> { ids.withLock { $0 } }
}
