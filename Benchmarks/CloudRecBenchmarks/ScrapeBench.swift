import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CompressNIO
import Foundation
import NIOCore
import Prometheus

/// A parsed text exposition: the same series, to feed the other implementations.
struct ParsedFamily {
    var name: String
    var help: String
    var samples: [(labels: [(String, String)], value: Double)]
}

enum ExpositionParser {
    static func parse(_ bytes: [UInt8]) -> [ParsedFamily] {
        var families: [ParsedFamily] = []
        var index: [String: Int] = [:]
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                let space = rest.firstIndex(of: " ") ?? rest.endIndex
                let name = String(rest[..<space])
                let help = space < rest.endIndex ? String(rest[rest.index(after: space)...]) : ""
                index[name] = families.count
                families.append(ParsedFamily(name: name, help: help.replacingOccurrences(of: "\\n", with: "\n")
                                                .replacingOccurrences(of: "\\\\", with: "\\"), samples: []))
                continue
            }
            if line.hasPrefix("#") { continue }
            let (name, labels, value) = parseSample(line)
            if index[name] == nil {
                index[name] = families.count
                families.append(ParsedFamily(name: name, help: "", samples: []))
            }
            families[index[name]!].samples.append((labels, value))
        }
        return families
    }

    static func parseSample(_ line: Substring) -> (String, [(String, String)], Double) {
        let chars = Array(line.utf8)
        var i = 0
        while i < chars.count, chars[i] != UInt8(ascii: "{"), chars[i] != UInt8(ascii: " ") { i += 1 }
        let name = String(decoding: chars[0..<i], as: UTF8.self)
        var labels: [(String, String)] = []
        if i < chars.count, chars[i] == UInt8(ascii: "{") {
            i += 1
            while i < chars.count, chars[i] != UInt8(ascii: "}") {
                let keyStart = i
                while chars[i] != UInt8(ascii: "=") { i += 1 }
                let key = String(decoding: chars[keyStart..<i], as: UTF8.self)
                i += 2  // ="
                var value: [UInt8] = []
                while chars[i] != UInt8(ascii: "\"") {
                    if chars[i] == UInt8(ascii: "\\") {
                        i += 1
                        value.append(chars[i] == UInt8(ascii: "n") ? 10 : chars[i])
                    } else {
                        value.append(chars[i])
                    }
                    i += 1
                }
                i += 1
                labels.append((key, String(decoding: value, as: UTF8.self)))
                if chars[i] == UInt8(ascii: ",") { i += 1 }
            }
            i += 1
        }
        let valueText = String(decoding: chars[(i + 1)...], as: UTF8.self)
        return (name, labels, Double(valueText) ?? .nan)
    }
}

struct ScrapeResult: Codable {
    var tasks: Int
    var series: Int
    var bytes: Int
    var render: Summary
    var floor: Summary
    var gzip: Summary
    var gzipBytes: Int
    /// Gzip from cached blocks (`GzipScrapeCache`): nothing changed since the last scrape, and 1% of the tasks re-polled.
    var cachedGzip: Summary
    var cachedGzipBytes: Int
    var cachedGzipChurn: Summary
    var swiftPrometheusRegisterSeconds: Double?
    var swiftPrometheusEmit: Summary?
    var swiftPrometheusBytes: Int?
    var swiftPrometheusNote: String?
    var pythonGenerateLatest: Summary?
    var pythonRegisterSeconds: Double?
    var pythonBytes: Int?
    var pythonNote: String?
}

enum ScrapeBench {
    static func repetitions(_ tasks: Int, quick: Bool) -> (render: Int, gzip: Int, other: Int) {
        switch tasks {
        case ..<5_000: return quick ? (50, 10, 10) : (300, 50, 50)
        case ..<50_000: return quick ? (20, 5, 5) : (101, 21, 21)
        default: return quick ? (5, 2, 2) : (21, 5, 5)
        }
    }

    static func run(tasks: Int, options: BenchOptions) throws -> ScrapeResult {
        progress("scrape: building \(count(tasks)) tasks")
        let store = TaskSeriesStore()
        let tracker = TaskTracker(store: store)
        Fleet.populate(tracker, count: tasks)
        let exposition = MetricsExposition(store: store, families: [])
        let body = exposition.render(.prometheusText)
        let series = body.reduce(0) { $0 + ($1 == 10 ? 1 : 0) } - 2 * TaskFamilies.all.count
        let reps = repetitions(tasks, quick: options.quick)

        progress("scrape: render ×\(reps.render)")
        let render = measure(repetitions: reps.render) { blackHole(exposition.render(.prometheusText)) }
        // The floor: the same number of bytes copied from one contiguous buffer into a fresh one.
        let floor = measure(repetitions: reps.render) {
            let copy = [UInt8](unsafeUninitializedCapacity: body.count) { buffer, initialized in
                body.withUnsafeBufferPointer { source in
                    _ = memcpy(buffer.baseAddress!, source.baseAddress!, body.count)
                }
                initialized = body.count
            }
            blackHole(copy)
        }
        progress("scrape: gzip ×\(reps.gzip)")
        var gzipBytes = 0
        let gzip = try measure(repetitions: reps.gzip, warmup: 1) {
            var buffer = ByteBuffer(bytes: body)
            let compressed = try buffer.compress(with: .gzip(configuration: .init(compressionLevel: 1)))
            gzipBytes = compressed.readableBytes
        }
        progress("scrape: gzip from cached blocks ×\(reps.gzip), unchanged and with 1% re-polled")
        var cachedGzipBytes = 0
        let cachedGzip = measure(repetitions: reps.render, warmup: 1) {
            let compressed = exposition.renderGzip(exposition.collect(.prometheusText))
            cachedGzipBytes = compressed?.body.count ?? 0
        }
        var churnSamples: [Double] = []
        for round in 0..<reps.gzip {
            for index in stride(from: round % 100, to: tasks, by: 100) {
                let (spec, vendor) = Fleet.spec(index)
                tracker.record(spec.key, result: .success(Fleet.observation(index, vendor: vendor)),
                               now: Fleet.baseTime + 1000 + Double(round), notFoundGrace: 0)
            }
            let start = monotonic()
            blackHole(exposition.renderGzip(exposition.collect(.prometheusText)))
            churnSamples.append(monotonic() - start)
        }
        var result = ScrapeResult(tasks: tasks, series: series, bytes: body.count, render: render,
                                  floor: floor, gzip: gzip, gzipBytes: gzipBytes, cachedGzip: cachedGzip, cachedGzipBytes: cachedGzipBytes,
                                  cachedGzipChurn: Summary(churnSamples))

        let families = ExpositionParser.parse(body)
        if tasks <= options.swiftPrometheusMaxTasks {
            progress("scrape: swift-prometheus registering \(count(series)) series (quadratic: minutes at 10,000 tasks)")
            let registry = PrometheusCollectorRegistry()
            let start = monotonic()
            for family in families {
                let descriptor = MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
                for sample in family.samples {
                    registry.makeGauge(descriptor: descriptor, labels: sample.labels).set(to: sample.value)
                }
            }
            result.swiftPrometheusRegisterSeconds = monotonic() - start
            var emitted = 0
            result.swiftPrometheusEmit = measure(repetitions: reps.other) {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                emitted = buffer.count
            }
            result.swiftPrometheusBytes = emitted
        } else {
            result.swiftPrometheusNote = "not run: registering \(count(series)) series is O(n²) in swift-prometheus 2.4.1 (hours)"
        }

        if let python = options.python {
            progress("scrape: prometheus_client generate_latest")
            let file = options.workDirectory + "/exposition-\(tasks).txt"
            try Data(body).write(to: URL(fileURLWithPath: file))
            let output = try runProcess(python, [options.pythonScript, file, String(reps.other)])
            if let data = output.data(using: .utf8),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let samples = object["generate_latest_seconds"] as? [Double] {
                result.pythonGenerateLatest = Summary(samples)
                result.pythonRegisterSeconds = object["register_seconds"] as? Double
                result.pythonBytes = object["bytes"] as? Int
            } else {
                result.pythonNote = "failed: \(output.prefix(300))"
            }
            try? FileManager.default.removeItem(atPath: file)
        } else {
            result.pythonNote = "python3 with prometheus_client not available"
        }
        return result
    }

    struct ChurnResult: Codable {
        var tasks: Int
        var storeAdd: Double
        var storeRemove: Double
        var trackerAdd: Double
        var trackerRemove: Double
    }

    /// Adding and removing 10,000 tasks' series: straight into the store (render + insert, delete), and through the
    /// tracker as the exporter does (track, first poll result, untrack), into a store that already holds `base`
    /// tasks.
    static func churn(tasks: Int, base: Int, runs: Int) -> ChurnResult {
        var best = ChurnResult(tasks: tasks, storeAdd: .infinity, storeRemove: .infinity, trackerAdd: .infinity, trackerRemove: .infinity)
        // Pre-computed exports so the store figure is render + insert only.
        let scratch = TaskSeriesStore()
        let scratchTracker = TaskTracker(store: scratch)
        Fleet.populate(scratchTracker, count: tasks, offset: base)
        for _ in 0..<runs {
            let store = TaskSeriesStore()
            let tracker = TaskTracker(store: store)
            Fleet.populate(tracker, count: base)
            let exports = (base..<(base + tasks)).map { index -> (TaskKey, TaskExport) in
                let (spec, vendor) = Fleet.spec(index)
                let observation = Fleet.observation(index, vendor: vendor)
                return (spec.key, export(spec: spec, vendor: vendor, observation: observation))
            }
            var start = monotonic()
            for (key, export) in exports { store.set(key, export) }
            let storeAdd = monotonic() - start
            start = monotonic()
            for (key, _) in exports { store.remove(key) }
            let storeRemove = monotonic() - start

            start = monotonic()
            Fleet.populate(tracker, count: tasks, offset: base)
            let trackerAdd = monotonic() - start
            start = monotonic()
            for index in base..<(base + tasks) { tracker.untrack(Fleet.spec(index).spec.key, source: .config) }
            let trackerRemove = monotonic() - start
            precondition(store.count == base)
            best.storeAdd = min(best.storeAdd, storeAdd)
            best.storeRemove = min(best.storeRemove, storeRemove)
            best.trackerAdd = min(best.trackerAdd, trackerAdd)
            best.trackerRemove = min(best.trackerRemove, trackerRemove)
        }
        return best
    }

    static func export(spec: TaskSpec, vendor: Vendor, observation: TaskObservation) -> TaskExport {
        var formats: [FileFormat: Int] = [:]
        for file in observation.files { formats[file.format, default: 0] += 1 }
        var uploads: [UploadState: Int]?
        if observation.reportsUploadStates {
            var counts: [UploadState: Int] = [:]
            for file in observation.files { if let state = file.uploadState { counts[state, default: 0] += 1 } }
            uploads = counts
        }
        return TaskExport(vendor: vendor, account: spec.account, taskID: spec.id, status: observation.status,
                          vendorStatus: observation.vendorStatus, fileCounts: formats, uploadCounts: uploads,
                          totalSizeBytes: observation.totalSizeBytes, recordedSeconds: observation.totalDurationSeconds,
                          startTime: observation.startTime, lastSuccess: Fleet.baseTime + 0.125)
    }
}

/// Runs a program and returns its stdout (stderr passes through).
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
