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

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
        for (labels, value) in collect() {
            SampleWriter.appendSample(into: &out, name: family.name, labels: Array(zip(labelNames, labels)), value: value)
        }
    }
}
