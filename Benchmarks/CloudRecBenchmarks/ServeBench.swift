import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecMetrics
import CloudRecPolling
import CloudRecSimulatorServer
import CloudRecTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The exporter's real HTTP surface (ExporterRouter on Hummingbird) on a loopback port, for scrape latency.
/// Counts renders, to show how many scrapes shared one.
final class CountingControl: ExporterControl {
    let app: ExporterApp
    let renders = Atomic<Int>(0)
    init(_ app: ExporterApp) { self.app = app }
    func renderMetrics(_ format: ExpositionFormat) -> [UInt8] {
        renders.add(1, ordering: .relaxed)
        return app.renderMetrics(format)
    }
    func renderMetricsGzip(_ format: ExpositionFormat) -> (body: [UInt8], uncompressedBytes: Int)? {
        renders.add(1, ordering: .relaxed)
        return app.renderMetricsGzip(format)
    }
    func fleetOverview(limit: Int) -> FleetOverview { app.fleetOverview(limit: limit) }
    func reload() async -> String? { await app.reload() }
    var isReady: Bool { app.isReady }
    func taskSummary() -> [Vendor: [TaskStatus: Int]] { app.taskSummary() }
    var version: String { app.version }
}

struct ServedExporter {
    let app: ExporterApp
    let port: Int
    let control: CountingControl

    static func run(app: ExporterApp, logger: Logger, _ body: (ServedExporter) async throws -> Void) async throws {
        let portBox = Mutex<Int?>(nil)
        let control = CountingControl(app)
        let application = Application(
            router: ExporterRouter.build(control: control, telemetryPath: "/metrics"),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portBox.withLock { $0 = channel.localAddress?.port } },
            logger: logger)
        let group = ServiceGroup(services: [app.engine, application] as [any Service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port: Int?
            while port == nil {
                try await Task.sleep(for: .milliseconds(20))
                port = portBox.withLock { $0 }
            }
            var failure: (any Error)?
            do { try await body(ServedExporter(app: app, port: port!, control: control)) } catch { failure = error }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if let failure { throw failure }
        }
    }

    /// One scrape as Prometheus sends it (gzip accepted); returns seconds until the whole body arrived, and its size.
    func scrape(client: HTTPClient, gzip: Bool = true) async throws -> (seconds: Double, bytes: Int) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics")
        request.headers.add(name: "Accept", value: "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        if gzip { request.headers.add(name: "Accept-Encoding", value: "gzip") }
        let start = monotonic()
        let response = try await client.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 30)
        let seconds = monotonic() - start
        guard response.status == .ok else { throw BenchError("scrape answered \(response.status.code)") }
        return (seconds, body.readableBytes)
    }
}

struct ConcurrencyResult: Codable {
    var tasks: Int
    var bodyBytes: Int
    var scrapers: Int
    var intervalSeconds: Double
    /// One scraper, one scrape per interval.
    var single: Summary
    var singleRenders: Int
    /// `scrapers` scrapers, each one scrape per interval, random phases.
    var concurrent: Summary
    var concurrentRenders: Int
    var ratioP99: Double
    /// `scrapers` scrapers back to back (closed loop): the stress case.
    var closedLoop: Summary
    var closedLoopRenders: Int
    var closedLoopSeconds: Double
    var pollingFractionOfRateLimit: Double
    var throttled: Int
}

struct ServeResult: Codable {
    var tasks: Int
    var plainBytes: Int
    var plainSeconds: Double
    var gzipBytes: Int
    var gzipSeconds: Double
    /// The next gzip scrape, with every block cached by the first.
    var gzipWarmBytes: Int
    var gzipWarmSeconds: Double
}

enum ServeBench {
    static let scrapeClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(decompression: .disabled))

    /// p99 scrape latency of one scraper and of `scrapers` concurrent closed-loop scrapers, while the exporter polls
    /// `tasks` recordings at the simulator's full rate over TLS.
    static func concurrency(executable: String, ca: ThrowawayCA, tasks: Int, qps: Int, scrapers: Int, quick: Bool) async throws -> ConcurrencyResult {
        progress("concurrency: \(count(tasks)) tasks polled at \(qps)/s over HTTPS, 1 then \(scrapers) scrapers")
        let simulator = try SimulatorProcess(executable: executable, qps: qps, tasks: tasks, tlsDirectory: ca.directory)
        defer { simulator.stop() }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        // The exporter's own client configuration (ExporterServer builds its client with it).
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AsyncHTTPClientTransport.clientConfiguration)
        let config = SimulatorChild.exporterConfig(endpoint: simulator.baseURL, rateLimit: Double(qps), pollInterval: 30, tasks: tasks,
                                                   caFile: ca.caFile)
        let account = config.accounts[0]
        let app = ExporterApp(source: .fixed(config), transport: AsyncHTTPClientTransport(client: httpClient), logger: logger)
        try app.start()
        var result: ConcurrencyResult?
        try await ServedExporter.run(app: app, logger: logger) { served in
            // Give every task real series (files, sizes, times) right away, as after one cycle.
            for index in 0..<tasks {
                let (spec, vendor) = Fleet.spec(index)
                let key = TaskKey(account: account.name, taskID: spec.id)
                app.tracker.record(key, result: .success(Fleet.observation(index, vendor: vendor)), now: Date().timeIntervalSince1970,
                                   notFoundGrace: 0)
            }
            try await Task.sleep(for: .seconds(2))
            let requestsBefore = totalRequests(app, account.name)
            let pollStart = monotonic()
            let interval = 1.0
            let scrapesEach = quick ? 10 : 30
            var bytes = 0
            func renders() -> Int { served.control.renders.load(ordering: .relaxed) }

            // One scraper, one scrape a second.
            var mark = renders()
            var single: [Double] = []
            for _ in 0..<scrapesEach {
                let started = monotonic()
                let (seconds, size) = try await served.scrape(client: scrapeClient)
                single.append(seconds)
                bytes = size
                try await Task.sleep(for: .seconds(max(0, interval - (monotonic() - started))))
            }
            let singleRenders = renders() - mark

            // `scrapers` scrapers, each one scrape a second, at random phases (as independent Prometheus servers).
            mark = renders()
            let concurrent = try await withThrowingTaskGroup(of: [Double].self) { group in
                for index in 0..<scrapers {
                    group.addTask {
                        try await Task.sleep(for: .seconds(interval * Double(index) / Double(scrapers) + Double.random(in: 0..<0.02)))
                        var latencies: [Double] = []
                        for _ in 0..<scrapesEach {
                            let started = monotonic()
                            latencies.append(try await served.scrape(client: scrapeClient).seconds)
                            try await Task.sleep(for: .seconds(max(0, interval - (monotonic() - started))))
                        }
                        return latencies
                    }
                }
                var all: [Double] = []
                for try await latencies in group { all += latencies }
                return all
            }
            let concurrentRenders = renders() - mark

            // Stress: the same scrapers back to back, for as long as the paced run took.
            mark = renders()
            let closedStart = monotonic()
            let closed = try await withThrowingTaskGroup(of: [Double].self) { group in
                for _ in 0..<scrapers {
                    group.addTask {
                        var latencies: [Double] = []
                        while monotonic() - closedStart < (quick ? 5 : 15) {
                            latencies.append(try await served.scrape(client: scrapeClient).seconds)
                        }
                        return latencies
                    }
                }
                var all: [Double] = []
                for try await latencies in group { all += latencies }
                return all
            }
            let closedSeconds = monotonic() - closedStart
            let closedRenders = renders() - mark

            let pollSeconds = monotonic() - pollStart
            let requests = totalRequests(app, account.name) - requestsBefore
            let singleSummary = Summary(single), concurrentSummary = Summary(concurrent)
            result = ConcurrencyResult(tasks: tasks, bodyBytes: bytes, scrapers: scrapers, intervalSeconds: interval,
                                       single: singleSummary, singleRenders: singleRenders,
                                       concurrent: concurrentSummary, concurrentRenders: concurrentRenders,
                                       ratioP99: concurrentSummary.p99 / singleSummary.p99,
                                       closedLoop: Summary(closed), closedLoopRenders: closedRenders, closedLoopSeconds: closedSeconds,
                                       pollingFractionOfRateLimit: Double(requests) / pollSeconds / Double(qps),
                                       throttled: Int(app.metrics.apiThrottled.value(["agora", account.name, "query"])))
        }
        try? await httpClient.shutdown()
        guard let result else { throw BenchError("concurrency run produced no result") }
        return result
    }

    static func totalRequests(_ app: ExporterApp, _ account: String) -> Int {
        PollOutcome.allCases.reduce(0) { $0 + Int(app.metrics.apiRequests.value(["agora", account, "query", $1.rawValue])) }
    }

    /// One full scrape of a large fleet over HTTP, plain and gzip.
    static func serve(tasks: Int) async throws -> ServeResult {
        progress("serve: \(count(tasks)) tasks over HTTP")
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let app = ExporterApp(source: .fixed(ExporterConfig()), transport: AsyncHTTPClientTransport(client: .shared), logger: logger)
        try app.start()
        Fleet.populate(app.tracker, count: tasks)
        var result: ServeResult?
        try await ServedExporter.run(app: app, logger: logger) { served in
            _ = try await served.scrape(client: scrapeClient, gzip: false)
            let plain = try await served.scrape(client: scrapeClient, gzip: false)
            let gzip = try await served.scrape(client: scrapeClient, gzip: true)
            // Past the scrape coalescer's reuse window (a render is reused for as long as it took), so the second gzip
            // scrape renders again, from cached blocks.
            try await Task.sleep(for: .seconds(gzip.seconds * 1.5 + 0.05))
            let warm = try await served.scrape(client: scrapeClient, gzip: true)
            result = ServeResult(tasks: tasks, plainBytes: plain.bytes, plainSeconds: plain.seconds, gzipBytes: gzip.bytes,
                                 gzipSeconds: gzip.seconds, gzipWarmBytes: warm.bytes, gzipWarmSeconds: warm.seconds)
        }
        guard let result else { throw BenchError("serve run produced no result") }
        return result
    }
}
