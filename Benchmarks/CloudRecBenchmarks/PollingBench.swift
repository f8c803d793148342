import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecSimulatorServer
import CloudRecTestSupport
import Foundation
import Logging
import ServiceLifecycle

struct PollingResult: Codable {
    var name: String
    var tasks: Int
    var simulatorQPS: Int
    var rateLimit: Double
    var tls: Bool
    var seconds: Double
    var requests: Int
    var requestsPerSecond: Double
    var fractionOfRateLimit: Double
    /// Admitted requests per second over the vendor's limit.
    var fractionOfVendorLimit: Double
    var throttled: Int
    var throttledFraction: Double
    var throttledInLast30s: Int
    var simulatorAnswered: Int
    var simulatorThrottled: Int
    var simulatorOpenSockets: Int
    var cpuMillisecondsPer1000Polls: Double
    var pollAgeP50: Double
    var pollAgeP99: Double
    var pollAgeTransitionalP50: Double
    var pollAgeSteadyP50: Double
    var neverPolled: Int
    var lagP99: Double
    var expectedCycleSeconds: Double
    var finalRate: Double
}

enum PollingBench {
    /// One account, `tasks` recordings in the simulator, the exporter polling them for `seconds`.
    static func run(name: String, executable: String, ca: ThrowawayCA?, simulatorQPS: Int, rateLimit: Double, tasks: Int,
                    seconds: Double, pollInterval: Double = 30) async throws -> PollingResult {
        progress("polling \(name): \(count(tasks)) tasks, simulator \(simulatorQPS)/s, rate_limit \(rateLimit), \(Int(seconds)) s over \(ca == nil ? "HTTP" : "HTTPS")")
        let simulator = try SimulatorProcess(executable: executable, qps: simulatorQPS, tasks: tasks, tlsDirectory: ca?.directory)
        defer { simulator.stop() }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        // The exporter's own client configuration (ExporterServer builds its client with it).
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AsyncHTTPClientTransport.clientConfiguration)
        var config = SimulatorChild.exporterConfig(endpoint: simulator.baseURL, rateLimit: rateLimit, pollInterval: pollInterval,
                                                   tasks: tasks, caFile: ca?.caFile)
        config.global.pollInterval = pollInterval
        let account = config.accounts[0]
        let app = ExporterApp(source: .fixed(config), transport: AsyncHTTPClientTransport(client: httpClient), logger: logger)
        try app.start()
        let before = simulator.command("stats")
        let cpuStart = processCPUSeconds()
        let start = Date().timeIntervalSince1970
        var lags: [Double] = []
        var throttledAt: [(Double, Double)] = []
        let engineTask = Task { try await app.engine.run() }
        while Date().timeIntervalSince1970 - start < seconds {
            try await Task.sleep(for: .seconds(1))
            if let poller = app.engine.poller(for: account.name) { lags.append(poller.lag) }
            throttledAt.append((Date().timeIntervalSince1970, app.metrics.apiThrottled.value(["agora", account.name, "query"])))
        }
        let end = Date().timeIntervalSince1970
        let poller = app.engine.poller(for: account.name)
        poller?.stop()
        engineTask.cancel()
        _ = try? await engineTask.value
        let cpu = processCPUSeconds() - cpuStart
        let after = simulator.command("stats")
        try? await httpClient.shutdown()

        let elapsed = end - start
        var requests = 0
        for outcome in PollOutcome.allCases {
            requests += Int(app.metrics.apiRequests.value(["agora", account.name, "query", outcome.rawValue]))
        }
        let throttled = Int(app.metrics.apiThrottled.value(["agora", account.name, "query"]))
        let admitted = requests - throttled
        var ages: [Double] = []
        var transitionalAges: [Double] = []
        var steadyAges: [Double] = []
        var neverPolled = 0
        for task in app.tracker.all {
            let age = end - (task.lastSuccess ?? start)
            if task.lastSuccess == nil { neverPolled += 1 }
            ages.append(age)
            if task.status.isTransitional { transitionalAges.append(age) } else { steadyAges.append(age) }
        }
        let sortedAges = ages.sorted()
        let throttledLast30 = throttledAt.last.map { last in
            last.1 - (throttledAt.last(where: { $0.0 <= last.0 - 30 })?.1 ?? 0)
        } ?? 0
        func delta(_ key: String) -> Int { (after[key] ?? 0) - (before[key] ?? 0) }
        return PollingResult(
            name: name, tasks: tasks, simulatorQPS: simulatorQPS, rateLimit: rateLimit, tls: ca != nil, seconds: elapsed,
            requests: requests, requestsPerSecond: Double(requests) / elapsed, fractionOfRateLimit: Double(requests) / elapsed / rateLimit,
            fractionOfVendorLimit: Double(admitted) / elapsed / Double(simulatorQPS),
            throttled: throttled, throttledFraction: requests > 0 ? Double(throttled) / Double(requests) : 0,
            throttledInLast30s: Int(throttledLast30),
            simulatorAnswered: delta("answered"), simulatorThrottled: delta("throttled"), simulatorOpenSockets: after["open_sockets"] ?? 0,
            cpuMillisecondsPer1000Polls: requests > 0 ? cpu / Double(requests) * 1_000_000 : 0,
            pollAgeP50: Summary.quantile(sortedAges, 0.5), pollAgeP99: Summary.quantile(sortedAges, 0.99),
            pollAgeTransitionalP50: Summary.quantile(transitionalAges.sorted(), 0.5),
            pollAgeSteadyP50: Summary.quantile(steadyAges.sorted(), 0.5),
            neverPolled: neverPolled, lagP99: Summary.quantile(lags.sorted(), 0.99),
            expectedCycleSeconds: Double(tasks) / (rateLimit * RequestBudget.safetyMargin),
            finalRate: poller?.budget.currentRate ?? 0)
    }
}
