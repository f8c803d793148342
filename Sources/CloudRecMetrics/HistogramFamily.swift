import Synchronization

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

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
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
