// CloudRecBenchmarks: the figures of README "Performance". Run through scripts/bench.sh (release build, Python
// baseline installed). Prints a Markdown report on stdout and writes report.md and results.json.
//
//   CloudRecBenchmarks [--quick] [--sections scrape,churn,polling,pollcpu,memory,concurrency,serve] [--sizes 1000,10000,100000]
//                      [--swift-prometheus-max-tasks 10000] [--python python3] [--out DIR] [--poll-seconds 150]
//                      [--pollcpu-vendors agora,zego,tencent_trtc,alibaba_live,alibaba_ims] [--pollcpu-transports http,https]
//                      [--pollcpu-seconds 10] [--pollcpu-rate 50] [--pollcpu-tasks 100]
#if canImport(Glibc)
import CloudRecTestSupport
import Glibc
#endif
import CloudRecCore
import CloudRecSimulatorServer
import Foundation

struct BenchOptions {
    var quick = false
    var sections: Set<String> = ["scrape", "churn", "polling", "pollcpu", "memory", "concurrency", "serve"]
    var sizes = [1_000, 10_000, 100_000]
    var swiftPrometheusMaxTasks = 10_000
    var python: String?
    var pythonScript = "Benchmarks/python/prom_client_bench.py"
    var outDirectory = ".build/bench-results"
    var workDirectory = NSTemporaryDirectory() + "cloudrec-bench-\(getpid())"
    var pollSeconds = 150.0
    /// The "poll CPU" section: which vendors and transports, seconds each side measures, rate_limit and tasks.
    var pollCPUVendors = PollCPUBench.vendors
    var pollCPUTransports = ["http", "https"]
    var pollCPUSeconds = 10.0
    var pollCPURate = 50.0
    var pollCPUTasks = 100

    init(_ arguments: [String]) throws {
        var index = 0
        func next() throws -> String {
            index += 1
            guard index < arguments.count else { throw BenchError("\(arguments[index - 1]) needs a value") }
            return arguments[index]
        }
        var pythonGiven = false
        var sizesGiven = false
        var swiftPrometheusGiven = false
        while index < arguments.count {
            switch arguments[index] {
            case "--quick": quick = true
            case "--sections": sections = Set(try next().split(separator: ",").map(String.init))
            case "--sizes":
                sizes = try next().split(separator: ",").compactMap { Int($0) }
                sizesGiven = true
            case "--swift-prometheus-max-tasks":
                swiftPrometheusMaxTasks = Int(try next()) ?? swiftPrometheusMaxTasks
                swiftPrometheusGiven = true
            case "--python":
                python = try next()
                pythonGiven = true
            case "--out": outDirectory = try next()
            case "--poll-seconds": pollSeconds = Double(try next()) ?? pollSeconds
            case "--pollcpu-vendors":
                pollCPUVendors = try next().split(separator: ",").map { name in
                    guard let vendor = Vendor(rawValue: String(name)) else { throw BenchError("unknown vendor \(name)") }
                    return vendor
                }
            case "--pollcpu-transports": pollCPUTransports = try next().split(separator: ",").map(String.init)
            case "--pollcpu-seconds": pollCPUSeconds = Double(try next()) ?? pollCPUSeconds
            case "--pollcpu-rate": pollCPURate = Double(try next()) ?? pollCPURate
            case "--pollcpu-tasks": pollCPUTasks = Int(try next()) ?? pollCPUTasks
            default: throw BenchError("unknown argument \(arguments[index])")
            }
            index += 1
        }
        if quick {
            pollSeconds = min(pollSeconds, 30)
            pollCPUSeconds = min(pollCPUSeconds, 5)
            // A smoke run: no 100,000-task fleet and no multi-minute swift-prometheus registration unless asked.
            if !sizesGiven { sizes = [1_000, 10_000] }
            if !swiftPrometheusGiven { swiftPrometheusMaxTasks = 1_000 }
        }
        if !pythonGiven { python = Self.findPython() }
        if let python { self.python = python == "none" ? nil : python }
    }

    /// python3 with prometheus_client importable, or nil.
    static func findPython() -> String? {
        for candidate in ["/usr/bin/env"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: candidate)
            process.arguments = ["python3", "-c", "import prometheus_client, sys; print(sys.executable)"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if process.terminationStatus == 0, !path.isEmpty { return path }
        }
        return nil
    }
}

let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let arguments = Array(CommandLine.arguments.dropFirst())

switch arguments.first {
case "simulator-child":
    try await SimulatorChild.main(Array(arguments.dropFirst()))
case "memory-child":
    try MemoryBench.child(tasks: Int(arguments.dropFirst().first ?? "0") ?? 0)
default:
    try await Benchmarks.run(options: BenchOptions(arguments))
}

enum Benchmarks {
    static func run(options: BenchOptions) async throws {
        let report = Report()
        try FileManager.default.createDirectory(atPath: options.workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: options.workDirectory) }
        var results: [String: any Encodable] = [:]
        machine(report)
        let start = monotonic()

        if options.sections.contains("scrape") {
            var scrapes: [ScrapeResult] = []
            for size in options.sizes { scrapes.append(try ScrapeBench.run(tasks: size, options: options)) }
            results["scrape"] = scrapes
            reportScrape(report, scrapes)
        }
        if options.sections.contains("churn") {
            progress("churn")
            let churn = ScrapeBench.churn(tasks: 10_000, base: 10_000, runs: options.quick ? 2 : 5)
            results["churn"] = churn
            report.heading("Churn: add and remove 10,000 tasks' series (store already holding 10,000; best of runs)")
            report.table(["path", "add 10,000", "remove 10,000", "add + remove", "target < 1 s"], [
                ["store (render + insert / delete)", ms(churn.storeAdd), ms(churn.storeRemove), ms(churn.storeAdd + churn.storeRemove),
                 pass(churn.storeAdd + churn.storeRemove < 1)],
                ["tracker (track + first poll result / untrack)", ms(churn.trackerAdd), ms(churn.trackerRemove),
                 ms(churn.trackerAdd + churn.trackerRemove), pass(churn.trackerAdd + churn.trackerRemove < 1)],
            ])
        }
        var ca: ThrowawayCA?
        if options.sections.contains("polling") || options.sections.contains("concurrency") || options.sections.contains("pollcpu") {
            ca = try ThrowawayCA.make(in: options.workDirectory + "/tls", keyType: .rsa2048, days: 2, name: "cloudrec benchmark test CA")
        }
        if options.sections.contains("polling"), let ca {
            var runs: [PollingResult] = []
            runs.append(try await PollingBench.run(name: "budget 50/s, rate_limit = limit", executable: executable, ca: ca,
                                                   simulatorQPS: 50, rateLimit: 50, tasks: 5_000, seconds: options.pollSeconds))
            runs.append(try await PollingBench.run(name: "Agora 10/s, rate_limit = limit", executable: executable, ca: ca,
                                                   simulatorQPS: 10, rateLimit: 10, tasks: 5_000, seconds: options.quick ? 20 : 60))
            runs.append(try await PollingBench.run(name: "Agora 10/s, rate_limit 50% too high", executable: executable, ca: ca,
                                                   simulatorQPS: 10, rateLimit: 15, tasks: 5_000, seconds: options.quick ? 30 : 60))
            runs.append(try await PollingBench.run(name: "budget 50/s, plain HTTP (CPU comparison)", executable: executable, ca: nil,
                                                   simulatorQPS: 50, rateLimit: 50, tasks: 5_000, seconds: options.quick ? 15 : 30))
            results["polling"] = runs
            reportPolling(report, runs)
        }
        if options.sections.contains("pollcpu"), let ca {
            var cells: [PollCPUResult] = []
            for vendor in options.pollCPUVendors {
                for transport in options.pollCPUTransports {
                    cells.append(try await PollCPUBench.run(vendor: vendor, executable: executable, ca: transport == "https" ? ca : nil,
                                                            tasks: options.pollCPUTasks, rate: options.pollCPURate,
                                                            seconds: options.pollCPUSeconds, python: "python3",
                                                            workDirectory: options.workDirectory))
                }
            }
            results["pollcpu"] = cells
            PollCPUBench.report(report, cells, rate: options.pollCPURate)
            var stages: [(vendor: Vendor, tls: Bool, stages: [(String, Double)])] = []
            for vendor in options.pollCPUVendors {
                for transport in options.pollCPUTransports {
                    let tls = transport == "https"
                    stages.append((vendor, tls, try await PollCPUBench.breakdown(vendor: vendor, executable: executable, ca: tls ? ca : nil,
                                                                                 calls: options.quick ? 500 : 2_000)))
                }
            }
            PollCPUBench.reportBreakdown(report, stages)
        }
        if options.sections.contains("memory") {
            var memory: [MemoryResult] = []
            for size in [0, 10_000, 100_000] where options.sizes.contains(size) || size == 0 || !options.quick {
                memory.append(try MemoryBench.run(executable: executable, tasks: size))
            }
            results["memory"] = memory
            report.heading("Memory: RSS with N tracked tasks (fresh process each; read after one scrape, whose buffers the peak includes)")
            report.table(["tasks", "RSS", "peak RSS (VmHWM)", "scrape bytes", "target"], memory.map { m in
                let target: String
                switch m.tasks {
                case 10_000: target = "≤ 150 MiB: " + pass(m.rssBytes <= 150 * 1_048_576)
                case 100_000: target = "≤ 1 GiB: " + pass(m.rssBytes <= 1_073_741_824)
                default: target = "—"
                }
                return [count(m.tasks), mib(m.rssBytes), mib(m.peakBytes), count(m.scrapeBytes), target]
            })
        }
        if options.sections.contains("concurrency"), let ca {
            let concurrency = try await ServeBench.concurrency(executable: executable, ca: ca, tasks: 10_000, qps: 50, scrapers: 20,
                                                               quick: options.quick)
            results["concurrency"] = concurrency
            report.heading("Concurrency: scrape latency over HTTP (gzip) while polling 10,000 tasks at 50/s over HTTPS")
            let c = concurrency
            report.table(["scrapers", "pattern", "scrapes", "renders", "p50", "p99", "max"], [
                ["1", "one scrape a second", String(c.single.n), String(c.singleRenders), ms(c.single.median), ms(c.single.p99), ms(c.single.max)],
                [String(c.scrapers), "each one scrape a second, random phases", String(c.concurrent.n), String(c.concurrentRenders),
                 ms(c.concurrent.median), ms(c.concurrent.p99), ms(c.concurrent.max)],
                [String(c.scrapers), String(format: "back to back for %.0f s (stress)", c.closedLoopSeconds), String(c.closedLoop.n),
                 String(c.closedLoopRenders), ms(c.closedLoop.median), ms(c.closedLoop.p99), ms(c.closedLoop.max)],
            ])
            report.line(String(format: "p99 with %d concurrent scrapers / single-scraper p99: %.2f× (target ≤ 2×: %@); back to back: %.2f×. Body %@ bytes (gzip). Polling meanwhile at %.0f%% of rate_limit, %d throttled.",
                               c.scrapers, c.ratioP99, pass(c.ratioP99 <= 2), c.closedLoop.p99 / c.single.p99, count(c.bodyBytes),
                               c.pollingFractionOfRateLimit * 100, c.throttled))
        }
        if options.sections.contains("serve") {
            let size = options.quick ? 10_000 : 100_000
            let served = try await ServeBench.serve(tasks: size)
            results["serve"] = served
            report.heading("Served over HTTP: one scrape of \(count(size)) tasks")
            report.table(["encoding", "bytes", "time"], [
                ["identity", count(served.plainBytes), ms(served.plainSeconds)],
                ["gzip, first scrape (every block compressed)", count(served.gzipBytes), ms(served.gzipSeconds)],
                ["gzip, next scrape (blocks reused)", count(served.gzipWarmBytes), ms(served.gzipWarmSeconds)],
            ])
        }
        report.line(String(format: "\nTotal benchmark time %.0f s.", monotonic() - start))

        try FileManager.default.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)
        try report.markdown.write(toFile: options.outDirectory + "/report.md", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var json = "{\n"
        for (index, key) in results.keys.sorted().enumerated() {
            let data = try encoder.encode(AnyEncodable(results[key]!))
            json += "\"\(key)\": " + String(decoding: data, as: UTF8.self) + (index + 1 < results.count ? ",\n" : "\n")
        }
        json += "}\n"
        try json.write(toFile: options.outDirectory + "/results.json", atomically: true, encoding: .utf8)
        progress("wrote \(options.outDirectory)/report.md and results.json")
    }

    static func pass(_ ok: Bool) -> String { ok ? "met" : "**missed**" }

    static func machine(_ report: Report) {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first
            .map { String($0).replacingOccurrences(of: "MemTotal:", with: "").trimmingCharacters(in: .whitespaces) } ?? "?"
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        let os = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("PRETTY_NAME=") }?.dropFirst(12).replacingOccurrences(of: "\"", with: "") ?? "Linux"
        report.line("Machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory) RAM, \(os); load average at start \(load).")
    }

    static func reportScrape(_ report: Report, _ scrapes: [ScrapeResult]) {
        report.heading("Scrape: rendering the per-task families (text format)")
        report.table(["tasks", "series", "bytes", "render median", "render p99", "memory-copy floor (median)", "render / floor",
                      "gzip -1 median (bytes)"], scrapes.map { s in
            [count(s.tasks), count(s.series), count(s.bytes), ms(s.render.median), ms(s.render.p99), ms(s.floor.median),
             String(format: "%.1f×", s.render.median / s.floor.median), "\(ms(s.gzip.median)) (\(count(s.gzipBytes)))"]
        })
        report.heading("Compressed scrapes: gzip from cached blocks against the plain render and one gzip of the whole body")
        report.table(["tasks", "plain render (median)", "whole-body gzip -1 (bytes)", "cached blocks, unchanged (bytes)",
                      "cached / plain", "cached blocks, 1% re-polled (median)", "1% re-polled / plain", "size / whole-body gzip"],
                     scrapes.map { s in
            [count(s.tasks), ms(s.render.median), "\(ms(s.gzip.median)) (\(count(s.gzipBytes)))",
             "\(ms(s.cachedGzip.median)) (\(count(s.cachedGzipBytes)))", String(format: "%.2f×", s.cachedGzip.median / s.render.median),
             ms(s.cachedGzipChurn.median), String(format: "%.2f×", s.cachedGzipChurn.median / s.render.median),
             String(format: "%.2f×", Double(s.cachedGzipBytes) / Double(max(1, s.gzipBytes)))]
        })
        report.table(["tasks", "ours (median)", "swift-prometheus 2.x emit (median)", "swift-prometheus register", "prometheus_client generate_latest (median)",
                      "prometheus_client register"], scrapes.map { s in
            let swift = s.swiftPrometheusEmit.map { "\(ms($0.median)) (\(String(format: "%.0f×", $0.median / s.render.median)) slower)" }
                ?? (s.swiftPrometheusNote ?? "—")
            let python = s.pythonGenerateLatest.map { "\(ms($0.median)) (\(String(format: "%.0f×", $0.median / s.render.median)) slower)" }
                ?? (s.pythonNote ?? "—")
            return [count(s.tasks), ms(s.render.median), swift, s.swiftPrometheusRegisterSeconds.map { String(format: "%.1f s", $0) } ?? "—",
                    python, s.pythonRegisterSeconds.map { String(format: "%.1f s (incl. parsing)", $0) } ?? "—"]
        })
        if let s = scrapes.first(where: { $0.tasks == 10_000 }) {
            var lines = ["Targets at 10,000 tasks: render within 3× of the floor: \(pass(s.render.median <= 3 * s.floor.median))"]
            if let swift = s.swiftPrometheusEmit { lines.append("≥ 10× faster than swift-prometheus: \(pass(swift.median >= 10 * s.render.median))") }
            if let python = s.pythonGenerateLatest { lines.append("≥ 20× faster than prometheus_client: \(pass(python.median >= 20 * s.render.median))") }
            report.line(lines.joined(separator: "; ") + ".")
        }
        if let s = scrapes.first(where: { $0.tasks == 100_000 }) {
            report.line("100,000 tasks: \(count(s.series)) series, \(count(s.bytes)) bytes, rendered in \(ms(s.render.median)) (median).")
        }
    }

    static func reportPolling(_ report: Report, _ runs: [PollingResult]) {
        report.heading("Polling: 5,000 tasks on one account against the simulator (sliding one-second window, enforced exactly)")
        report.table(["run", "transport", "seconds", "requests/s", "of rate_limit", "admitted of vendor limit", "throttled",
                      "poll age p50 / p99", "transitional / steady p50", "CPU per 1,000 polls"], runs.map { r in
            [r.name, r.tls ? "HTTPS" : "HTTP", String(format: "%.0f", r.seconds), String(format: "%.2f", r.requestsPerSecond),
             String(format: "%.1f%%", r.fractionOfRateLimit * 100), String(format: "%.1f%%", r.fractionOfVendorLimit * 100),
             "\(r.throttled) (\(String(format: "%.2f%%", r.throttledFraction * 100)); last 30 s: \(r.throttledInLast30s))",
             String(format: "%.0f s / %.0f s", r.pollAgeP50, r.pollAgeP99),
             String(format: "%.0f s / %.0f s", r.pollAgeTransitionalP50, r.pollAgeSteadyP50),
             String(format: "%.0f ms", r.cpuMillisecondsPer1000Polls)]
        })
        for r in runs {
            report.line("- \(r.name): \(r.requests) requests, simulator answered \(r.simulatorAnswered) and throttled \(r.simulatorThrottled); "
                + String(format: "expected cycle %.0f s (tasks / planned rate); %d tasks not yet polled; lag p99 %.0f s; final planned rate %.2f/s; simulator sockets open at the end: %d.",
                         r.expectedCycleSeconds, r.neverPolled, r.lagP99, r.finalRate, r.simulatorOpenSockets))
        }
        if let exact = runs.first(where: { $0.name.hasPrefix("budget 50/s, rate_limit") }) {
            report.line("\nTarget ≥ 95% of rate_limit with zero throttled (50/s): \(pass(exact.fractionOfRateLimit >= 0.95 && exact.throttled == 0)).")
        }
        if let exact = runs.first(where: { $0.name.hasPrefix("Agora 10/s, rate_limit = limit") }) {
            report.line("Target ≥ 95% of rate_limit with zero throttled (10/s): \(pass(exact.fractionOfRateLimit >= 0.95 && exact.throttled == 0)).")
        }
        if let over = runs.first(where: { $0.name.contains("too high") }) {
            report.line("Target throttled < 1% within 60 s at rate_limit 150% of the limit: \(pass(over.throttledFraction < 0.01)).")
        }
    }
}

/// Type-erased Encodable for the results file.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
