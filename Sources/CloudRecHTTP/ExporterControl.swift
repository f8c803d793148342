import CloudRecCore
import CloudRecMetrics

/// What the HTTP surface needs from the running exporter. Implemented by the app; tests can stub it.
public protocol ExporterControl: Sendable {
    func renderMetrics(_ format: ExpositionFormat) -> [UInt8]
    /// The same scrape gzip-compressed, with its uncompressed size; nil when the app cannot (the router then
    /// compresses `renderMetrics` itself).
    func renderMetricsGzip(_ format: ExpositionFormat) -> (body: [UInt8], uncompressedBytes: Int)?
    /// Re-reads the configuration. Returns nil on success, or the problems (the old config keeps running).
    func reload() async -> String?
    var isReady: Bool { get }
    /// Tracked tasks per vendor and status, for the landing page.
    func taskSummary() -> [Vendor: [TaskStatus: Int]]
    /// The tasks that need attention (at most `limit`) and each account's health, for the landing page.
    func fleetOverview(limit: Int) -> FleetOverview
    var version: String { get }
}

public extension ExporterControl {
    /// Stubs without tasks show an empty fleet.
    func fleetOverview(limit: Int) -> FleetOverview { FleetOverview() }
}
