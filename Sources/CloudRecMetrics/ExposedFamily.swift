/// Bounded-cardinality metrics about the exporter itself (per account, per outcome...). Hand-written rather than
/// swift-prometheus because we need OpenMetrics output, a fixed label order, and no `fatalError` paths; the series
/// count here is small (accounts × outcomes), so a dictionary per family is all it takes.
public protocol ExposedFamily: Sendable {
    var family: MetricFamily { get }
    func writeSamples(into out: inout [UInt8], scrape: ScrapeInput)
}

/// What a family is written from: the scrape's format and its snapshot of the task series (so gauges computed from
/// the tasks agree with the per-task series of the same scrape).
public struct ScrapeInput: Sendable {
    public let format: ExpositionFormat
    public let snapshot: TaskSeriesStore.Snapshot

    public init(format: ExpositionFormat, snapshot: TaskSeriesStore.Snapshot) {
        self.format = format
        self.snapshot = snapshot
    }
}
