/// The common status set every vendor status is mapped onto (see each vendor's `StatusMapping.swift`).
public enum TaskStatus: String, CaseIterable, Sendable, Codable, Hashable {
    case initializing
    case running
    case paused
    case stopping
    case completed
    case failed
    case unknown

    /// A terminal status ends tracking: the task keeps its series for `ended_task_retention`, then disappears.
    public var isTerminal: Bool { self == .completed || self == .failed }

    /// Transitional statuses are polled more often, so their end is seen sooner.
    public var isTransitional: Bool { self == .initializing || self == .stopping }
}
