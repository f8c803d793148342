import Synchronization

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

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
        for (labels, value) in values.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}
