/// Which tasks get per-task series (`global.task_series`). Every task is always counted in the per-account gauges
/// and the fleet counters; the modes only bound the per-task series (and so the series a fleet creates).
public enum TaskSeriesMode: String, CaseIterable, Sendable, Hashable {
    /// Every tracked task (the default).
    case all
    /// Only tasks that need a human: failed, files failed or backup-only, stalled, stuck in a transitional status,
    /// not polled successfully for three poll intervals.
    case attention
    /// None: aggregates only.
    case none
}
