import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import CloudRecSimulators
import CloudRecTestSupport
import CloudRecVendors
import Logging
import Testing

@Suite("Poll scheduling under a tight budget")
struct PollingScheduleTests {
    static func agora(qps: Int) -> (AgoraSimulator, AccountSpec) {
        let simulator = AgoraSimulator(book: SimTaskBook(clock: SimClock()), appID: "0123456789abcdef0123456789abcdef",
                                       customerID: "c", customerSecret: "s", qps: qps)
        let account = AccountSpec(name: "agora-tight", vendor: .agora, endpoint: "http://simulator.invalid", rateLimit: 400,
                                  pollInterval: 0.1, fields: ["app_id": simulator.appID],
                                  credentials: ["customer_id": Secret("c"), "customer_secret": Secret("s")])
        return (simulator, account)
    }

    /// 200 tasks, 400 requests/s and a 0.1 s interval: one round needs about 0.5 s, five times the interval. The
    /// queue is ordered by due time, so every steady task's interval stretches by the same amount and none starves,
    /// while tasks in a transitional state are still polled more often.
    @Test("when tasks / rate_limit exceeds the interval, every task's interval stretches evenly")
    func stretchesEvenly() async throws {
        let (simulator, account) = Self.agora(qps: 100_000)
        let tasks = 200
        var config = ExporterConfig()
        config.accounts = [account]
        // Every tenth task is starting (Agora status 4: initializing, a transitional state).
        for index in 0..<tasks {
            let id = "sid-\(index)"
            simulator.book.start(id: id, fields: ["resource_id": "rid-\(id)"], phase: index % 10 == 0 ? .starting : .recording)
            config.tasks.append(TaskSpec(account: account.name, id: id, fields: ["resource_id": "rid-\(id)", "mode": "mix"]))
        }
        let transport = CountingSimulatorTransport(simulator: simulator)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = PollingEngine(tracker: TaskTracker(store: TaskSeriesStore()), metrics: ExporterMetrics(version: "", revision: ""),
                                   transport: transport, logger: logger)
        engine.apply(config)
        let running = Task { try await engine.run() }
        await transport.wait(forTotal: 8 * tasks)
        let counts = transport.counts
        running.cancel()
        _ = try? await running.value

        #expect(counts.count == tasks, "every task was polled")
        let steady = (0..<tasks).filter { $0 % 10 != 0 }.map { counts["sid-\($0)"] ?? 0 }
        let transitional = (0..<tasks).filter { $0 % 10 == 0 }.map { counts["sid-\($0)"] ?? 0 }
        let low = steady.min() ?? 0, high = steady.max() ?? 0
        #expect(low >= 4, "no task starves: fewest polls \(low)")
        #expect(high - low <= 3, "round robin: steady tasks polled between \(low) and \(high) times")
        let steadyMean = Double(steady.reduce(0, +)) / Double(steady.count)
        let transitionalMean = Double(transitional.reduce(0, +)) / Double(transitional.count)
        #expect(transitionalMean >= 1.5 * steadyMean, "transitional tasks polled sooner: \(transitionalMean) vs \(steadyMean)")
        #expect(simulator.stats.count(.throttled) == 0)
        #expect(engine.tracker.all.filter { $0.status == .running }.count == tasks - tasks / 10)
    }

    @Test("a transitional task is due after a third of the interval; when the queue runs late, ahead by two thirds of the lateness")
    func transitionalPriority() {
        #expect(AccountPoller.nextInterval(pollInterval: 30, transitional: false, lateness: 0) == 30)
        #expect(AccountPoller.nextInterval(pollInterval: 30, transitional: false, lateness: 73) == 30)
        #expect(AccountPoller.nextInterval(pollInterval: 30, transitional: true, lateness: 0) == 10)
        #expect(AccountPoller.nextInterval(pollInterval: 30, transitional: true, lateness: 72) == 10 - 48)
        // Short intervals: at least 1 s, but never longer than the steady interval.
        #expect(AccountPoller.nextInterval(pollInterval: 2, transitional: true, lateness: 0) == 1)
        #expect(AccountPoller.nextInterval(pollInterval: 0.2, transitional: true, lateness: 0) == 0.2)
        // Served after (interval + lateness) / 3 instead of interval + lateness: due + lateness - now.
        let lateness = 60.0
        let transitional = AccountPoller.nextInterval(pollInterval: 30, transitional: true, lateness: lateness) + lateness
        #expect(abs(transitional - (30 + lateness) / 3) < 1e-9)
    }
}
