import Synchronization

/// Bounded-cardinality metrics about the exporter itself (per account, per outcome...). Hand-written rather than
/// swift-prometheus because we need OpenMetrics output, a fixed label order, and no `fatalError` paths; the series
/// count here is small (accounts × outcomes), so a dictionary per family is all it takes.
public protocol ExposedFamily: Sendable {
    var family: MetricFamily { get }
    func writeSamples(into out: inout [UInt8], format: ExpositionFormat)
}

/// A counter family with a fixed list of label names.
public final class CounterFamily: ExposedFamily {
    public let family: MetricFamily
    public let labelNames: [String]
    private let values = Mutex<[[String]: Double]>([:])

    public init(name: String, help: String, labelNames: [String]) {
        precondition(name.hasSuffix("_total"), "counter names end in _total")
        family = MetricFamily(name: name, help: help, type: .counter)
        self.labelNames = labelNames
    }

    public func increment(_ labelValues: [String], by amount: Double = 1) {
        values.withLock { $0[labelValues, default: 0] += amount }
    }

    /// Makes a series visible at 0 so `rate()` sees its first increment.
    public func touch(_ labelValues: [String]) {
        values.withLock { all in if all[labelValues] == nil { all[labelValues] = 0 } }
    }

    public func value(_ labelValues: [String]) -> Double { values.withLock { $0[labelValues] ?? 0 } }

    public func removeAll(where predicate: ([String]) -> Bool) {
        values.withLock { all in for key in all.keys where predicate(key) { all.removeValue(forKey: key) } }
    }

    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {
        for (labels, value) in values.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}

/// A gauge family whose values are set by the owner (or computed at scrape time by `GaugeCallbackFamily`).
public final class GaugeFamily: ExposedFamily {
    public let family: MetricFamily
    public let labelNames: [String]
    private let values = Mutex<[[String]: Double]>([:])

    public init(name: String, help: String, labelNames: [String]) {
        family = MetricFamily(name: name, help: help, type: .gauge)
        self.labelNames = labelNames
    }

    public func set(_ labelValues: [String], _ value: Double) { values.withLock { $0[labelValues] = value } }
    public func value(_ labelValues: [String]) -> Double? { values.withLock { $0[labelValues] } }
    public func remove(_ labelValues: [String]) { _ = values.withLock { $0.removeValue(forKey: labelValues) } }
    public func removeAll(where predicate: ([String]) -> Bool) {
        values.withLock { all in for key in all.keys where predicate(key) { all.removeValue(forKey: key) } }
    }

    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {
        for (labels, value) in values.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}

/// A gauge family computed when scraped (task counts, process figures).
public struct GaugeCallbackFamily: ExposedFamily {
    public let family: MetricFamily
    public let labelNames: [String]
    private let collect: @Sendable () -> [([String], Double)]

    public init(name: String, help: String, labelNames: [String], collect: @escaping @Sendable () -> [([String], Double)]) {
        family = MetricFamily(name: name, help: help, type: .gauge)
        self.labelNames = labelNames
        self.collect = collect
    }

    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {
        for (labels, value) in collect() {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}

/// A gauge family computed from the scrape's task snapshot, so it agrees with the per-task series of the same
/// scrape (`cloudrec_tasks`). Rendered only through `MetricsExposition`, which hands it that snapshot.
public struct GaugeSnapshotFamily: ExposedFamily {
    public let family: MetricFamily
    public let labelNames: [String]
    private let collect: @Sendable (TaskSeriesStore.Snapshot) -> [([String], Double)]

    public init(name: String, help: String, labelNames: [String],
                collect: @escaping @Sendable (TaskSeriesStore.Snapshot) -> [([String], Double)]) {
        family = MetricFamily(name: name, help: help, type: .gauge)
        self.labelNames = labelNames
        self.collect = collect
    }

    /// Without a snapshot there is nothing to compute from.
    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {}

    public func writeSamples(into out: inout [UInt8], snapshot: TaskSeriesStore.Snapshot) {
        for (labels, value) in collect(snapshot) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}

/// A counter computed when scraped (process CPU seconds).
public struct CounterCallbackFamily: ExposedFamily {
    public let family: MetricFamily
    private let collect: @Sendable () -> Double

    public init(name: String, help: String, collect: @escaping @Sendable () -> Double) {
        family = MetricFamily(name: name, help: help, type: .counter)
        self.collect = collect
    }

    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {
        SampleWriter.appendSample(into: &out, name: family.name, labels: [], value: collect())
    }
}

/// A histogram family with fixed buckets and label names.
public final class HistogramFamily: ExposedFamily {
    public let family: MetricFamily
    public let labelNames: [String]
    public let buckets: [Double]
    private struct Series {
        var counts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }
    private let series = Mutex<[[String]: Series]>([:])
    private let bucketLabels: [String]

    public init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        family = MetricFamily(name: name, help: help, type: .histogram)
        self.labelNames = labelNames
        self.buckets = buckets.sorted()
        bucketLabels = self.buckets.map(SampleWriter.formatValue) + ["+Inf"]
    }

    public func observe(_ labelValues: [String], _ value: Double) {
        let bucketCount = buckets.count
        let index = buckets.firstIndex { value <= $0 } ?? bucketCount
        series.withLock { all in
            var s = all[labelValues] ?? Series(counts: Array(repeating: 0, count: bucketCount + 1))
            s.counts[index] += 1
            s.sum += value
            s.count += 1
            all[labelValues] = s
        }
    }

    public func touch(_ labelValues: [String]) {
        let bucketCount = buckets.count
        series.withLock { all in
            if all[labelValues] == nil { all[labelValues] = Series(counts: Array(repeating: 0, count: bucketCount + 1)) }
        }
    }

    public func removeAll(where predicate: ([String]) -> Bool) {
        series.withLock { all in for key in all.keys where predicate(key) { all.removeValue(forKey: key) } }
    }

    public func sampleCount(_ labelValues: [String]) -> UInt64 { series.withLock { $0[labelValues]?.count ?? 0 } }

    public func writeSamples(into out: inout [UInt8], format: ExpositionFormat) {
        for (labels, s) in series.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let base = Array(zip(labelNames, labels))
            var cumulative: UInt64 = 0
            for (index, bucketLabel) in bucketLabels.enumerated() {
                cumulative += s.counts[index]
                SampleWriter.appendSample(into: &out, name: family.name + "_bucket", labels: base + [("le", bucketLabel)],
                                          value: Double(cumulative))
            }
            SampleWriter.appendSample(into: &out, name: family.name + "_sum", labels: base, value: s.sum)
            SampleWriter.appendSample(into: &out, name: family.name + "_count", labels: base, value: Double(s.count))
        }
    }
}

/// Renders a whole scrape: the exporter's own families, then the pre-rendered task families.
public struct MetricsExposition: Sendable {
    public let store: TaskSeriesStore
    public let families: [any ExposedFamily]

    public init(store: TaskSeriesStore, families: [any ExposedFamily]) {
        self.store = store
        self.families = families
    }

    /// A scrape's content at one instant: the exporter's families written out, the task series as a snapshot
    /// (O(1)); copying the series is left to `render(_:)`, which needs no lock.
    public struct Collected: Sendable {
        let format: ExpositionFormat
        let head: [UInt8]
        let snapshot: TaskSeriesStore.Snapshot
    }

    public func render(_ format: ExpositionFormat) -> [UInt8] { render(collect(format)) }

    /// The cheap part of a scrape (bounded families and the snapshot): callers that must exclude configuration
    /// changes hold their lock around this only.
    public func collect(_ format: ExpositionFormat) -> Collected {
        let snapshot = store.renderSnapshot()
        var head: [UInt8] = []
        head.reserveCapacity(16_384)
        var samples: [UInt8] = []
        for exposed in families {
            samples.removeAll(keepingCapacity: true)
            if let computed = exposed as? GaugeSnapshotFamily {
                computed.writeSamples(into: &samples, snapshot: snapshot)
            } else {
                exposed.writeSamples(into: &samples, format: format)
            }
            // A family with no samples is left out entirely, as client libraries do.
            guard !samples.isEmpty else { continue }
            head.append(contentsOf: exposed.family.header(format))
            head.append(contentsOf: samples)
        }
        return Collected(format: format, head: head, snapshot: snapshot)
    }

    public func render(_ collected: Collected) -> [UInt8] {
        let (format, head, snapshot) = (collected.format, collected.head, collected.snapshot)
        let tail: [UInt8] = format == .openMetrics ? Array("# EOF\n".utf8) : []
        let taskBytes = snapshot.renderedSize(format)
        let total = head.count + taskBytes + tail.count
        // One allocation of the exact size; the task families are copied straight into it.
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            _ = buffer.initialize(fromContentsOf: head)
            let written = snapshot.write(format, to: UnsafeMutableBufferPointer(rebasing: buffer[head.count..<(head.count + taskBytes)]))
            precondition(written == taskBytes, "rendered size mismatch")
            _ = UnsafeMutableBufferPointer(rebasing: buffer[(head.count + taskBytes)...]).initialize(fromContentsOf: tail)
            initialized = total
        }
    }
}
