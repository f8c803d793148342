import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Testing

/// The HTTP surface: exposition formats, promtool, landing page, health, readiness, reload.
@Suite("Exporter HTTP surface", .serialized)
struct ExporterHTTPTests {
    static func seededZego() -> SimulatedAccount {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-http")
        DemoScenario(account: zego).seed()
        return zego
    }

    static func configure(_ account: SimulatedAccount) -> (inout ExporterConfig) -> Void {
        { config in config.tasks = account.book.all.map { TaskSpec(account: account.name, id: $0.id) } }
    }

    @Test("the scrape passes promtool check metrics, in text format, gzip and OpenMetrics")
    func exposition() async throws {
        let zego = Self.seededZego()
        try await Harness.run(accounts: [zego], configure: Self.configure(zego)) { harness in
            try await eventually("tasks polled") {
                try await harness.metrics().value("cloudrec_tasks", ["status": "unknown"]) == 0
            }
            let plain = try await harness.scrape()
            #expect(plain.status == 200)
            #expect(plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            let check = try runTool(["promtool", "check", "metrics"], input: plain.body)
            #expect(check.status == 0, "promtool check metrics: \(check.output)")

            let gzipped = try await harness.scrape(headers: [("Accept-Encoding", "gzip")])
            #expect(gzipped.headers["content-encoding"] == "gzip")
            // Inflated by the real gzip tool, independent of the library that compressed it.
            let inflated = try runTool(["gzip", "-dc"], input: gzipped.body)
            #expect(inflated.status == 0)
            #expect(inflated.output.utf8.count > gzipped.body.count, "gzip actually compresses")
            #expect(inflated.output.contains("cloudrec_task_status{"))

            let openMetrics = try await harness.scrape(headers: [
                ("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            ])
            #expect(openMetrics.headers["content-type"]?.hasPrefix("application/openmetrics-text") == true)
            let omText = String(decoding: openMetrics.body, as: UTF8.self)
            #expect(omText.hasSuffix("# EOF\n"))
            #expect(omText.contains("# TYPE cloudrec_api_requests counter\n"))
            #expect(omText.contains("cloudrec_api_requests_total{"))
        }
    }

    @Test("landing page, health and readiness")
    func pages() async throws {
        let zego = Self.seededZego()
        try await Harness.run(accounts: [zego], configure: Self.configure(zego)) { harness in
            let base = "http://127.0.0.1:\(harness.port)"
            let landing = try await Harness.request(base + "/")
            #expect(landing.status == 200)
            let html = String(decoding: landing.body, as: UTF8.self)
            #expect(html.contains("href=\"/metrics\""))
            #expect(html.contains("<td>zego</td>"))
            // The fleet: each account's health, the tasks that need a human (seeded: one abnormal exit, one failed
            // upload, one backup-only upload).
            try await eventually("seeded tasks polled") {
                let metrics = try await harness.metrics()
                return metrics.value("cloudrec_tasks", ["status": "unknown"]) == 0
                    && metrics.value("cloudrec_tasks", ["status": "completed"]) == 3
            }
            // The same ends in the counters that outlive tasks, every series of the account present.
            let metrics = try await harness.metrics()
            let account = ["vendor": "zego", "account": "zego-http"]
            #expect(metrics.value("cloudrec_tasks_started_total", account.merging(["source": "config"]) { $1 }) == 9)
            #expect(metrics.value("cloudrec_tasks_finished_total", account.merging(["status": "failed", "found_by": "vendor_status"]) { $1 }) == 1)
            #expect(metrics.value("cloudrec_tasks_finished_total", account.merging(["status": "completed", "found_by": "vendor_status"]) { $1 }) == 3)
            #expect(metrics.value("cloudrec_tasks_finished_total", account.merging(["status": "failed", "found_by": "callback"]) { $1 }) == 0)
            #expect(metrics.value("cloudrec_files_finished_total", account.merging(["upload_state": "failed"]) { $1 }) == 2)
            #expect(metrics.value("cloudrec_files_finished_total", account.merging(["upload_state": "backup_uploaded"]) { $1 }) == 2)
            #expect(metrics.value("cloudrec_files_finished_total", account.merging(["upload_state": "uploaded"]) { $1 }) == 4)
            #expect((metrics.value("cloudrec_recorded_bytes_total", account) ?? 0) > 0)
            #expect(!metrics.samples.contains { $0.name.hasSuffix("_total") && $0.name.hasPrefix("cloudrec_tasks_") && $0.labels["task_id"] != nil })
            let fleet = String(decoding: try await Harness.request(base + "/").body, as: UTF8.self)
            #expect(fleet.contains("<h2>Accounts</h2>"))
            #expect(fleet.contains("<tr><td>zego-http</td><td>zego</td><td>9</td><td>3</td><td>1</td><td>25.00%</td><td>8</td><td>25.00%</td>"),
                    "\(fleet)")
            #expect(fleet.contains("<h2>Tasks needing attention (3)</h2>"), "\(fleet)")
            for reason in ["<td>failed</td><td>failed</td>", "<td>upload failed</td>", "<td>backup storage only</td>"] {
                #expect(fleet.contains(reason), "\(reason)")
            }
            #expect(!fleet.contains("<script"))
            #expect(try await Harness.request(base + "/-/healthy").status == 200)
            #expect(try await Harness.request(base + "/-/ready").status == 200)
            let wrongMethod = try await Harness.request(base + "/-/reload")
            #expect(wrongMethod.status == 405)
            #expect(String(decoding: wrongMethod.body, as: UTF8.self).contains("\"error\""))
        }
    }

    @Test("reload: a bad config is rejected, the old one keeps running; a good one is applied")
    func reload() async throws {
        let zego = Self.seededZego()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config.yml").path
        func write(endpoint: String, tasks: [String], extra: String = "") throws {
            let yaml = """
            global:
              poll_interval: 200ms
            accounts:
              - name: zego-http
                vendor: zego
                endpoint: \(endpoint)
                app_id: \(zego.fields["app_id"]!)
                credentials: { server_secret: "\(zego.credentials["server_secret"]!)" }
            \(extra)
            tasks:
            \(tasks.map { "  - { account: zego-http, id: \($0) }" }.joined(separator: "\n"))
            """
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try await Harness.run(accounts: [zego], source: { config in
            try write(endpoint: config.accounts[0].endpoint, tasks: ["demo-zego-0001"])
            return .file(path)
        }) { harness in
            let endpoint = harness.exporter.config!.accounts[0].endpoint
            let reloadURL = "http://127.0.0.1:\(harness.port)/-/reload"
            try await eventually("first task running") {
                try await harness.metrics().status(account: "zego-http", task: "demo-zego-0001") == "running"
            }
            try write(endpoint: endpoint, tasks: ["demo-zego-0001", "demo-zego-0002"], extra: "    unexpected_key: 1")
            let rejected = try await Harness.request(reloadURL, method: .POST)
            #expect(rejected.status == 500)
            let reason = String(decoding: rejected.body, as: UTF8.self)
            #expect(reason.contains("config.yml:"), "names the file")
            #expect(reason.contains("unexpected_key"), "names the key")
            #expect(!reason.contains(zego.credentials["server_secret"]!), "no secret in the error")
            var m = try await harness.metrics()
            #expect(m.value("cloudrec_config_last_reload_successful", [:]) == 0)
            #expect(m.status(account: "zego-http", task: "demo-zego-0001") == "running", "old config keeps running")
            #expect(!m.has("cloudrec_task_status", ["task_id": "demo-zego-0002"]))

            try write(endpoint: endpoint, tasks: ["demo-zego-0002"])
            #expect(try await Harness.request(reloadURL, method: .POST).status == 200)
            try await eventually("new task polled, removed task gone") {
                m = try await harness.metrics()
                return m.status(account: "zego-http", task: "demo-zego-0002") == "running" && !m.has("cloudrec_task_status", ["task_id": "demo-zego-0001"])
            }
            #expect(m.value("cloudrec_config_last_reload_successful", [:]) == 1)
        }
    }
}

/// Runs a tool from PATH with `input` on stdin (promtool is installed by the test command; missing, the test fails).
func runTool(_ arguments: [String], input: [UInt8]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let stdin = Pipe(), output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    try process.run()
    // Write from another thread: a large input would otherwise fill the pipe while nobody reads the output.
    let writer = Thread {
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
    }
    writer.start()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}
