import Synchronization

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

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
        for (labels, value) in values.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}
