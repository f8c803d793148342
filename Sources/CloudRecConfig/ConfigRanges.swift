import CloudRecCore

/// The documented range of every number the configuration file and the command line take (SECURITY.md, "Input
/// ranges", lists them). A value outside its range is a config problem naming file, line, key and the range; it never
/// reaches a conversion that could trap.
public enum ConfigRanges {
    /// `global.poll_interval`, `accounts[].poll_interval`, `--demo.poll-interval`: 10 ms to 1 day.
    public static let pollInterval: ClosedRange<Double> = 0.01...86_400
    /// `global.request_timeout` (and `probe --timeout`): 10 ms to 10 minutes.
    public static let requestTimeout: ClosedRange<Double> = 0.01...600
    /// `global.ended_task_retention`: 1 second to 365 days.
    public static let endedTaskRetention: ClosedRange<Double> = 1...31_536_000
    /// `global.stall_after`: 10 seconds to 1 day.
    public static let stallAfter: ClosedRange<Double> = 10...86_400
    /// `global.unseen_task_retention`: 1 minute to 365 days.
    public static let unseenTaskRetention: ClosedRange<Double> = 60...31_536_000
    /// `global.max_task_series`: 1 to 100,000,000.
    public static let maxTaskSeries: ClosedRange<Int> = 1...100_000_000
    /// `accounts[].discover_interval`: 1 second to 1 day.
    public static let discoverInterval: ClosedRange<Double> = 1...86_400
    /// `accounts[].rate_limit`, requests per second: 0.001 to 100,000.
    public static let rateLimit: ClosedRange<Double> = 0.001...100_000
    /// `global.max_concurrent_requests`: 1 to 10,000.
    public static let maxConcurrentRequests: ClosedRange<Int> = 1...10_000
    /// `global.max_response_bytes`: 1 KiB to 1 GiB.
    public static let maxResponseBytes: ClosedRange<Int> = 1024...(1 << 30)
    /// `api.max_body_bytes`: 256 bytes to 64 MiB.
    public static let apiMaxBodyBytes: ClosedRange<Int> = 256...(64 << 20)

    /// "from 10ms to 1d": a duration range as the config writes durations.
    public static func describe(duration range: ClosedRange<Double>) -> String {
        "from \(DurationParser.format(range.lowerBound)) to \(DurationParser.format(range.upperBound))"
    }
}
