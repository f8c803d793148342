import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecSimulators
import CloudRecTestSupport
import CloudRecVendors
import Foundation
import Logging

/// One cell of the "poll CPU" table: one vendor over one transport, the exporter and the reference client.
struct PollCPUResult: Codable {
    var vendor: String
    var tls: Bool
    var tasks: Int
    var rate: Double
    var seconds: Double
    var exporterPolls: Int
    var exporterFailedPolls: Int
    var exporterCPUSeconds: Double
    var exporterContextSwitches: Int
    var referenceRequests: Int
    var referenceOK: Int
    var referenceCPUSeconds: Double
    var referenceNote: String?

    var exporterMicrosPerPoll: Double { exporterPolls > 0 ? exporterCPUSeconds / Double(exporterPolls) * 1e6 : 0 }
    var referenceMicrosPerRequest: Double { referenceRequests > 0 ? referenceCPUSeconds / Double(referenceRequests) * 1e6 : 0 }
    var ratio: Double { referenceMicrosPerRequest > 0 ? exporterMicrosPerPoll / referenceMicrosPerRequest : 0 }
}

/// "Poll CPU" (issue 17): the CPU one status poll costs the exporter, for every vendor over HTTP and HTTPS, next to
/// a plain reference client (scripts/poll_reference.py: `http.client` keep-alive, the same signing with hashlib/hmac,
/// `json.loads`) making the same requests at the same rate in the same run. The simulator runs in a child process
/// of its own and the reference client in another, so neither's CPU is counted as the exporter's; the exporter side
/// is this process (the real engine: scheduling, signing, AsyncHTTPClient, decoding, tracker, series, metrics).
/// CPU is getrusage user + system over a window after every task has been polled once (steady state).
enum PollCPUBench {
    static let vendors: [Vendor] = [.agora, .zego, .tencentTRTC, .alibabaLive, .alibabaIMS]

    /// The vendor's demo account (DemoScenario.swift): the simulator child and the exporter use the same credentials.
    static func simulatedAccount(_ vendor: Vendor) -> SimulatedAccount {
        SimulatorFleet.demoAccounts().first { $0.vendor == vendor }!
    }

    /// The exporter's own client configuration (ExporterServer builds its client with it).
    static var clientConfiguration: HTTPClient.Configuration { AsyncHTTPClientTransport.clientConfiguration }

    static func limiter(of simulator: any VendorSimulator) -> SimRateLimiter {
        switch simulator {
        case let agora as AgoraSimulator: return agora.limiter
        case let zego as ZegoSimulator: return zego.limiter
        case let tencent as TencentTRTCSimulator: return tencent.limiter
        case let live as AlibabaLiveSimulator: return live.limiter
        case let ims as AlibabaIMSSimulator: return ims.limiter
        default: return SimRateLimiter(limit: 1)
        }
    }

    static func run(vendor: Vendor, executable: String, ca: ThrowawayCA?, tasks: Int, rate: Double, seconds: Double,
                    python: String, workDirectory: String) async throws -> PollCPUResult {
        progress("poll CPU \(vendor.rawValue) over \(ca == nil ? "HTTP" : "HTTPS"): \(tasks) tasks at \(rate)/s, \(Int(seconds)) s each side")
        // The simulator admits far more than the rate: nothing is throttled, every poll is a full answer.
        let simulator = try SimulatorProcess(executable: executable, qps: 100_000, tasks: tasks, tlsDirectory: ca?.directory, vendor: vendor)
        defer { simulator.stop() }
        let demo = simulatedAccount(vendor)
        let account = AccountSpec(name: "\(vendor.rawValue)-cpu", vendor: vendor, endpoint: simulator.baseURL, rateLimit: rate,
                                  pollInterval: max(1, Double(tasks) / rate), fields: demo.fields,
                                  credentials: demo.credentials.mapValues { Secret($0) }, tlsCAFile: ca?.caFile)
        var config = ExporterConfig(source: "<bench poll cpu>")
        config.accounts = [account]
        config.tasks = (0..<tasks).map { index in
            let id = Fleet.taskID(index)
            return TaskSpec(account: account.name, id: id, fields: demo.taskFields(id))
        }
        // Info level, as deployed: whatever the poll path logs or builds for a log line at info counts.
        let logger = Logger(label: "bench-poll-cpu") { _ in DiscardingLogHandler(level: .info) }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let app = ExporterApp(source: .fixed(config), transport: AsyncHTTPClientTransport(client: httpClient), logger: logger)
        try app.start()
        let engineTask = Task { try await app.engine.run() }
        func polls() -> (all: Int, failed: Int) {
            guard let api = app.engine.poller(for: account.name)?.client.statusAPIName else { return (0, 0) }
            var all = 0
            var failed = 0
            for outcome in PollOutcome.allCases {
                let n = Int(app.metrics.apiRequests.value([vendor.rawValue, account.name, api, outcome.rawValue]))
                all += n
                if outcome != .success { failed += n }
            }
            return (all, failed)
        }
        // Warm-up: every task polled once (first answers change statuses, log and count events; the steady state
        // is what a deployment pays for), bounded by three intervals.
        let warmUpEnd = monotonic() + 3 * account.pollInterval + 5
        while app.tracker.all.contains(where: { $0.lastSuccess == nil }), monotonic() < warmUpEnd {
            try await Task.sleep(for: .milliseconds(100))
        }
        let before = polls()
        let cpuStart = processCPUSeconds()
        let switchesStart = processContextSwitches()
        let start = monotonic()
        try await Task.sleep(for: .seconds(seconds))
        let cpu = processCPUSeconds() - cpuStart
        let switches = processContextSwitches() - switchesStart
        let elapsed = monotonic() - start
        let after = polls()
        app.engine.poller(for: account.name)?.stop()
        engineTask.cancel()
        _ = try? await engineTask.value
        try? await httpClient.shutdown()
        let exporterPolls = after.all - before.all

        // The reference client: same simulator, same tasks and credentials, the rate the exporter reached.
        let achievedRate = max(1, Double(exporterPolls) / elapsed)
        let specFile = workDirectory + "/poll-reference-\(vendor.rawValue)-\(ca == nil ? "http" : "https").json"
        let spec: [String: Any] = [
            "vendor": vendor.rawValue, "endpoint": simulator.baseURL, "ca_file": ca?.caFile ?? NSNull(), "rate": achievedRate,
            "seconds": seconds, "fields": demo.fields, "credentials": demo.credentials,
            "tasks": (0..<tasks).map { index -> [String: Any] in
                let id = Fleet.taskID(index)
                return ["id": id, "fields": demo.taskFields(id)]
            },
        ]
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specFile))
        let reference = runReference(python: python, specFile: specFile)
        try? FileManager.default.removeItem(atPath: specFile)
        return PollCPUResult(vendor: vendor.rawValue, tls: ca != nil, tasks: tasks, rate: rate, seconds: elapsed,
                             exporterPolls: exporterPolls, exporterFailedPolls: after.failed - before.failed,
                             exporterCPUSeconds: cpu, exporterContextSwitches: switches, referenceRequests: reference.requests, referenceOK: reference.ok,
                             referenceCPUSeconds: reference.cpu, referenceNote: reference.note)
    }

    /// CPU per call of each stage of a poll, back to back in this process (no pacing, so no idle wake-ups):
    /// building and signing the request, the HTTP exchange through the transport (AsyncHTTPClient; its event-loop
    /// thread's CPU included), decoding and mapping the answer, the tracker update with the task's series
    /// re-rendered, and the call's metrics. Against the same simulator child, after a warm-up.
    static func breakdown(vendor: Vendor, executable: String, ca: ThrowawayCA?, calls: Int) async throws -> [(String, Double)] {
        let simulator = try SimulatorProcess(executable: executable, qps: 100_000, tasks: 1, tlsDirectory: ca?.directory, vendor: vendor)
        defer { simulator.stop() }
        let demo = simulatedAccount(vendor)
        let account = AccountSpec(name: "\(vendor.rawValue)-cpu", vendor: vendor, endpoint: simulator.baseURL, rateLimit: 50,
                                  pollInterval: 2, fields: demo.fields, credentials: demo.credentials.mapValues { Secret($0) },
                                  tlsCAFile: ca?.caFile)
        let id = Fleet.taskID(0)
        let spec = TaskSpec(account: account.name, id: id, fields: demo.taskFields(id))
        let client = VendorCatalog.makeClient(for: account)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let transport = AsyncHTTPClientTransport(client: httpClient).forAccount(account)
        let settings = PollingSettings()
        func perCall(_ n: Int, _ body: () async throws -> Void) async rethrows -> Double {
            for _ in 0..<min(n, 50) { try await body() }
            let start = processCPUSeconds()
            for _ in 0..<n { try await body() }
            return (processCPUSeconds() - start) / Double(n) * 1e6
        }
        var request = try client.statusRequest(for: spec, context: RequestContext())
        let response = try await transport.send(request, timeout: settings.requestTimeout, maxResponseBytes: settings.maxResponseBytes)
        let result = client.interpretStatus(response, for: spec)
        let tracker = TaskTracker(store: TaskSeriesStore())
        try tracker.track(spec, vendor: vendor, source: .config)
        let metrics = ExporterMetrics(version: "bench", revision: "bench")
        metrics.registerAccount(vendor: vendor, account: account.name, api: client.statusAPIName)
        var stages: [(String, Double)] = []
        stages.append(("build + sign", try await perCall(calls * 10) { request = try client.statusRequest(for: spec, context: RequestContext()) }))
        stages.append(("HTTP exchange (AsyncHTTPClient)", try await perCall(calls) {
            _ = try await transport.send(request, timeout: settings.requestTimeout, maxResponseBytes: settings.maxResponseBytes)
        }))
        stages.append(("decode + map (\(response.body.count) B)", await perCall(calls * 10) { blackHole(client.interpretStatus(response, for: spec)) }))
        var now = Date().timeIntervalSince1970
        stages.append(("tracker + series re-render", await perCall(calls * 10) {
            now += 0.001
            blackHole(tracker.record(spec.key, result: result, now: now, notFoundGrace: client.notFoundGraceSeconds))
        }))
        stages.append(("metrics", await perCall(calls * 10) {
            metrics.recordCall(vendor: vendor, account: account.name, api: client.statusAPIName, result: result, seconds: 0.001)
        }))
        try? await httpClient.shutdown()
        return stages
    }

    /// Runs scripts/poll_reference.py in its own process and reads its one JSON line.
    static func runReference(python: String, specFile: String) -> (requests: Int, ok: Int, cpu: Double, note: String?) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "scripts/poll_reference.py", specFile]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { return (0, 0, 0, "reference client did not start: \(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return (0, 0, 0, "reference client failed: " + errorText.split(separator: "\n").suffix(2).joined(separator: " "))
        }
        let requests = (object["requests"] as? NSNumber)?.intValue ?? 0
        let ok = (object["ok"] as? NSNumber)?.intValue ?? 0
        return (requests, ok, (object["cpu_seconds"] as? NSNumber)?.doubleValue ?? 0, ok < requests ? "\(requests - ok) answers without a status" : nil)
    }

    static func reportBreakdown(_ report: Report, _ rows: [(vendor: Vendor, tls: Bool, stages: [(String, Double)])]) {
        guard let first = rows.first else { return }
        report.heading("Poll CPU by stage: each stage back to back in one process (µs of CPU per call)")
        report.table(["vendor", "transport"] + first.stages.map { $0.0.components(separatedBy: " (").first ?? $0.0 } + ["sum"], rows.map { row in
            [row.vendor.rawValue, row.tls ? "HTTPS" : "HTTP"] + row.stages.map { String(format: "%.1f", $0.1) }
                + [String(format: "%.1f", row.stages.reduce(0) { $0 + $1.1 })]
        })
    }

    static func report(_ report: Report, _ results: [PollCPUResult], rate: Double) {
        report.heading("Poll CPU: one status poll, exporter against a plain Python client (same requests, same run)")
        report.table(["vendor", "transport", "exporter polls (failed)", "exporter CPU µs/poll", "exporter context switches/poll", "reference requests",
                      "reference CPU µs/req", "exporter / reference", "target ≤ 0.25"], results.map { r in
            [r.vendor, r.tls ? "HTTPS" : "HTTP", "\(r.exporterPolls) (\(r.exporterFailedPolls))", String(format: "%.0f", r.exporterMicrosPerPoll),
             String(format: "%.1f", Double(r.exporterContextSwitches) / Double(max(1, r.exporterPolls))),
             "\(r.referenceRequests)" + (r.referenceNote.map { " (\($0))" } ?? ""), String(format: "%.0f", r.referenceMicrosPerRequest),
             String(format: "%.2f", r.ratio), pass(r.ratio > 0 && r.ratio <= 0.25)]
        })
        report.line(String(format: "Both sides paced at the exporter's rate (rate_limit %.0f/s, %d tasks each polled about once per interval), ", rate, results.first?.tasks ?? 0)
            + "CPU = getrusage user + system of the polling process only, over the same window length after a warm-up in "
            + "which every task was polled once; simulators in their own processes. Reference: scripts/poll_reference.py "
            + "(http.client keep-alive, hashlib/hmac signing, json.loads).")
    }

    static func pass(_ ok: Bool) -> String { ok ? "met" : "**missed**" }
}

/// Accepts every record at its level and writes nothing: the poll path pays for building what it logs at info,
/// as it would in a deployment, without the benchmark's output filling with lines.
struct DiscardingLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    init(level: Logger.Level) { logLevel = level }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {}
}
