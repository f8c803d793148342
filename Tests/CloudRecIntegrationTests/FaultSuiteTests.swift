import CloudRecConfig
import CloudRecCore
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Synchronization
import Testing

/// Every simulator fault, switched on at run time through the simulator's control API against a running exporter
/// that polls two accounts: ZEGO (faulting) and Agora (healthy). For each fault: /metrics keeps answering with p99
/// under 1 s, the faulting account's calls land in exactly the expected outcome, the healthy account polls at its
/// normal rate with no failures and no lag, and polling resumes within one poll interval after the fault stops, at
/// (nearly) its normal rate.
/// The figures go to `.build/fault-report.txt`.
@Suite("Fault suite", .serialized)
struct FaultSuiteTests {
    struct Case {
        var fault: Fault
        /// The control API body that switches it on.
        var control: String
        var outcome: String
        /// The `code` label of `cloudrec_api_errors_total` the exporter must count, where one is expected.
        var code: String?
    }

    static let pollInterval = 1.0
    static let requestTimeout = 0.5
    static let maxResponseBytes = 256 * 1024
    static let tasksPerAccount = 20

    static let cases: [Case] = [
        Case(fault: .httpStatus(500), control: #"{"fault": "http_status", "status": 500}"#, outcome: "server_error", code: "500"),
        Case(fault: .httpStatus(502), control: #"{"fault": "http_status", "status": 502}"#, outcome: "server_error", code: "502"),
        Case(fault: .httpStatus(503), control: #"{"fault": "http_status", "status": 503}"#, outcome: "server_error", code: "503"),
        Case(fault: .delay(3), control: #"{"fault": "hang", "seconds": 3}"#, outcome: "timeout"),
        Case(fault: .slowDrip(bytesPerSecond: 20), control: #"{"fault": "slow_drip", "bytes_per_second": 20}"#, outcome: "timeout"),
        Case(fault: .connectionReset, control: #"{"fault": "connection_reset"}"#, outcome: "transport_error"),
        Case(fault: .truncatedBody, control: #"{"fault": "truncated_body"}"#, outcome: "transport_error"),
        Case(fault: .notJSON, control: #"{"fault": "not_json"}"#, outcome: "decode_error"),
        Case(fault: .wrongShape, control: #"{"fault": "wrong_shape"}"#, outcome: "decode_error"),
        Case(fault: .hugeBody(bytes: 1 << 20), control: #"{"fault": "huge_body", "bytes": 1048576}"#, outcome: "decode_error",
             code: "response_too_large"),
        Case(fault: .throttle, control: #"{"fault": "throttle"}"#, outcome: "throttled", code: "300000003"),
        Case(fault: .clockSkew(3600), control: #"{"fault": "clock_skew", "seconds": 3600}"#, outcome: "auth_error", code: "100000004"),
    ]

    static let outcomes = PollOutcome.allCases.map(\.rawValue)

    @Test("every fault: scrapes stay fast, outcomes are right, the other account is untouched, polling resumes")
    func faultSuite() async throws {
        let clock = SimClock()
        let zego = ZegoSimulator.demoAccount(clock: clock, name: "faulty-zego")
        (zego.simulator as! ZegoSimulator).limiter.setLimit(200)
        let agora = AgoraSimulator.demoAccount(clock: clock, name: "steady-agora", qps: 200)
        var tasks: [TaskSpec] = []
        for account in [zego, agora] {
            for index in 0..<Self.tasksPerAccount {
                let id = "\(account.vendor.rawValue)-\(index)"
                account.book.start(id: id, fields: account.taskFields(id))
                account.book.addFile(id, name: "\(id).mp4", format: .mp4)
                tasks.append(TaskSpec(account: account.name, id: id, fields: account.taskFields(id)))
            }
        }
        try await Harness.run(accounts: [zego, agora], configure: { config in
            config.global.requestTimeout = Self.requestTimeout
            config.global.maxResponseBytes = Self.maxResponseBytes
            // A small pool (4 calls in flight per account) so a hanging vendor could starve the other account if
            // the pools were shared.
            config.global.maxConcurrentRequests = 8
            for index in config.accounts.indices {
                config.accounts[index].pollInterval = Self.pollInterval
                config.accounts[index].rateLimit = 100
            }
            config.tasks = tasks
        }) { harness in
            let faultsURL = harness.simulatorURLs[0] + "/_sim/faults"
            try await eventually("every task polled") {
                let m = try await harness.metrics()
                return tasks.allSatisfy { m.status(account: $0.account, task: $0.id) == "running" }
            }
            let scrapes = ScrapeRecorder()
            let scraper = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 { group.addTask { await scrapes.run(harness.metricsURL) } }
                }
            }
            defer { scraper.cancel() }

            // The healthy account's normal rate, measured before any fault.
            let baselineStart = Date()
            let baselineBefore = try await harness.metrics()
            try await Task.sleep(for: .seconds(3))
            let baselineAfter = try await harness.metrics()
            let baselineSeconds = Date().timeIntervalSince(baselineStart)
            let baselineRate = (baselineAfter.outcomes(account: agora.name, "success") - baselineBefore.outcomes(account: agora.name, "success"))
                / baselineSeconds
            let faultyBaseline = (baselineAfter.outcomes(account: zego.name, "success") - baselineBefore.outcomes(account: zego.name, "success"))
                / baselineSeconds
            #expect(baselineRate > 10, "Agora polls 20 tasks a second (measured \(baselineRate)/s)")
            #expect(faultyBaseline > 10, "ZEGO polls 20 tasks a second (measured \(faultyBaseline)/s)")

            var report = [String(format: "fault suite: %d tasks per account, poll interval %.1fs, request timeout %.1fs, "
                                 + "max_response_bytes %d, baseline %.1f polls/s (healthy) and %.1f (faulting)", Self.tasksPerAccount,
                                 Self.pollInterval, Self.requestTimeout, Self.maxResponseBytes, baselineRate, faultyBaseline)]
            var worstP99 = 0.0
            var worstRecovery = 0.0
            for testCase in Self.cases {
                let before = try await harness.metrics()
                let started = Date()
                let switched = try await Harness.request(faultsURL, method: .POST, body: Array(testCase.control.utf8))
                #expect(switched.status == 200, "control API took \(testCase.control)")
                try await eventually("\(testCase.fault.name) counted as \(testCase.outcome)") {
                    let m = try await harness.metrics()
                    return m.outcomes(account: zego.name, testCase.outcome) - before.outcomes(account: zego.name, testCase.outcome) >= 5
                }
                // Hold the fault long enough to measure the healthy account's rate through it.
                let held = Date().timeIntervalSince(started)
                if held < 3 { try await Task.sleep(for: .seconds(3 - held)) }
                let during = try await harness.metrics()
                let faultSeconds = Date().timeIntervalSince(started)

                // Classification: the faulting account's failures are all of the expected outcome.
                for outcome in Self.outcomes where outcome != testCase.outcome && outcome != "success" {
                    let delta = during.outcomes(account: zego.name, outcome) - before.outcomes(account: zego.name, outcome)
                    #expect(delta == 0, "\(testCase.fault.name): \(Int(delta)) call(s) counted as \(outcome), expected only \(testCase.outcome)")
                }
                if let code = testCase.code {
                    let errors = { (m: Metrics) in m.value("cloudrec_api_errors_total", ["account": zego.name, "code": code]) ?? 0 }
                    #expect(errors(during) > errors(before), "\(testCase.fault.name) counted under code \(code)")
                }
                // Isolation: the healthy account polls at its normal rate, with no failures and no lag.
                let agoraRate = (during.outcomes(account: agora.name, "success") - before.outcomes(account: agora.name, "success")) / faultSeconds
                #expect(agoraRate >= 0.8 * baselineRate,
                        "\(testCase.fault.name): the healthy account slowed to \(agoraRate)/s (baseline \(baselineRate)/s)")
                for outcome in Self.outcomes where outcome != "success" {
                    #expect(during.outcomes(account: agora.name, outcome) == before.outcomes(account: agora.name, outcome),
                            "\(testCase.fault.name): the healthy account got \(outcome)")
                }
                let agoraLag = during.value("cloudrec_poll_lag_seconds", ["account": agora.name]) ?? .infinity
                #expect(agoraLag < Self.pollInterval, "\(testCase.fault.name): the healthy account runs \(agoraLag)s late")

                // Recovery: from the moment the fault is off to the first successful poll seen in /metrics.
                let successes = during.outcomes(account: zego.name, "success")
                let cleared = try await Harness.request(faultsURL, method: .DELETE)
                #expect(cleared.status == 200)
                let clearedAt = Date()
                try await eventually("polling resumes after \(testCase.fault.name)") {
                    try await harness.metrics().outcomes(account: zego.name, "success") > successes
                }
                let recovery = Date().timeIntervalSince(clearedAt)
                // Normal polling, not just one call: the rate over the next two poll intervals is the baseline's
                // (a fault must not leave the account throttling itself). The wait also lets calls sent during the
                // fault end (as failures, up to one request timeout later) within this case, not the next.
                let resumed = try await harness.metrics()
                let resumedAt = Date()
                try await Task.sleep(for: .seconds(2 * Self.pollInterval))
                let resumedRate = (try await harness.metrics().outcomes(account: zego.name, "success") - resumed.outcomes(account: zego.name, "success"))
                    / Date().timeIntervalSince(resumedAt)
                #expect(resumedRate >= 0.75 * faultyBaseline,
                        "\(testCase.fault.name): after the fault the account polls \(resumedRate)/s (baseline \(faultyBaseline)/s)")
                #expect(recovery <= Self.pollInterval, "\(testCase.fault.name): polling resumed after \(recovery)s")
                // The last known status stayed exported through the fault.
                #expect(try await harness.metrics().status(account: zego.name, task: "zego-0") == "running")

                let latencies = scrapes.latencies(since: started)
                let p99 = Self.percentile(latencies, 0.99)
                #expect(p99 < 1, "\(testCase.fault.name): scrape p99 \(p99)s")
                worstP99 = max(worstP99, p99)
                worstRecovery = max(worstRecovery, recovery)
                let failed = during.outcomes(account: zego.name, testCase.outcome) - before.outcomes(account: zego.name, testCase.outcome)
                let ms = { (seconds: Double) in String(format: "%.1f ms", 1000 * seconds) }
                report.append("\(testCase.fault.name.padding(toLength: 17, withPad: " ", startingAt: 0)) → "
                              + "\(testCase.outcome.padding(toLength: 16, withPad: " ", startingAt: 0))\(Int(failed)) calls in "
                              + String(format: "%.1fs", faultSeconds) + "; scrapes \(latencies.count), p50 \(ms(Self.percentile(latencies, 0.5))), "
                              + "p99 \(ms(p99)); healthy " + String(format: "%.1f polls/s, lag %.2fs; recovered in %.2fs, then %.1f polls/s",
                                                                       agoraRate, agoraLag, recovery, resumedRate))
            }
            scraper.cancel()
            #expect(scrapes.failures == 0, "every scrape answered 200")
            let health = try await Harness.request("http://127.0.0.1:\(harness.port)/-/healthy")
            #expect(health.status == 200)
            report.append(String(format: "%d faults injected and survived; %d scrapes, %d failed; worst scrape p99 %.1f ms; "
                                 + "worst recovery %.2fs", Self.cases.count, scrapes.count, scrapes.failures, 1000 * worstP99, worstRecovery))
            let text = report.joined(separator: "\n")
            print(text)
            try? text.write(toFile: CommandLineTests.packageRoot.appendingPathComponent(".build/fault-report.txt").path,
                            atomically: true, encoding: .utf8)
        }
    }

    static func percentile(_ values: [Double], _ quantile: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((quantile * Double(sorted.count)).rounded(.up)) - 1)]
    }
}

/// Scrapes /metrics back to back and keeps every latency; a scrape that fails or is not 200 counts as a failure.
final class ScrapeRecorder: Sendable {
    private struct State {
        var samples: [(at: Date, seconds: Double)] = []
        var failures = 0
    }

    private let state = Mutex(State())

    func run(_ url: String) async {
        while !Task.isCancelled {
            let started = Date()
            let response = try? await Harness.request(url)
            let seconds = Date().timeIntervalSince(started)
            if Task.isCancelled { return }
            state.withLock { s in
                s.samples.append((started, seconds))
                if response?.status != 200 || response?.body.isEmpty != false { s.failures += 1 }
            }
        }
    }

    func latencies(since: Date) -> [Double] { state.withLock { $0.samples.filter { $0.at >= since }.map(\.seconds) } }
    var count: Int { state.withLock { $0.samples.count } }
    var failures: Int { state.withLock { $0.failures } }
}
