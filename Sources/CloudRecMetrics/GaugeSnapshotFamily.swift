/// A gauge family computed from the scrape's task snapshot, so it agrees with the per-task series of the same
/// scrape (`cloudrec_tasks`).
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

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
        for (labels, value) in collect(scrape.snapshot) {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}
