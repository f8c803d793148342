/// A counter computed when scraped (process CPU seconds).
public struct CounterCallbackFamily: ExposedFamily {
    public let family: MetricFamily
    private let collect: @Sendable () -> Double

    public init(name: String, help: String, collect: @escaping @Sendable () -> Double) {
        family = MetricFamily(name: name, help: help, type: .counter)
        self.collect = collect
    }

    public func writeSamples(into out: inout [UInt8], scrape: ScrapeInput) {
        SampleWriter.appendSample(into: &out, name: family.name, labels: [], value: collect())
    }
}
