import Foundation
import Synchronization

/// The vendor requests one simulator saw, newest last, in a bounded ring (the oldest are dropped beyond
/// `capacity`). Served as `GET /_sim/requests?since=...` (`SimulatorControl`); the HA test reads from it which
/// replica (User-Agent) polled which task when, and whether the simulator throttled it.
public final class SimRequestLog: Sendable {
    public struct Entry: Sendable, Hashable {
        /// Wall-clock arrival time, Unix seconds.
        public var time: Double
        public var operation: String
        /// The task the request asked about, when the vendor logic looked one up (none for list calls, nor for a
        /// request refused before the lookup: bad signature, throttled).
        public var taskID: String?
        public var userAgent: String?
        /// A `SimStats.Event` name (`answered`, `throttled`, `not_found`, ...); the last one the request recorded.
        public var outcome: String

        public init(time: Double, operation: String, taskID: String?, userAgent: String?, outcome: String) {
            self.time = time
            self.operation = operation
            self.taskID = taskID
            self.userAgent = userAgent
            self.outcome = outcome
        }
    }

    private struct Ring {
        var entries: [Entry] = []
        /// Where the next entry goes once the ring is full (the oldest entry's index).
        var next = 0
    }

    public let capacity: Int
    private let ring = Mutex(Ring())

    public init(capacity: Int = 200_000) { self.capacity = max(1, capacity) }

    public func append(_ entry: Entry) {
        ring.withLock { ring in
            if ring.entries.count < capacity {
                ring.entries.append(entry)
            } else {
                ring.entries[ring.next] = entry
                ring.next = (ring.next + 1) % capacity
            }
        }
    }

    /// The kept entries that arrived strictly after `since` (all of them without it), in the order they were logged.
    /// With `since` only the recent end of the ring is read: entries are logged in arrival order to within the
    /// microseconds one answer takes, so the scan stops at the first entry a second older than `since`.
    public func entries(since: Double? = nil) -> [Entry] {
        ring.withLock { ring in
            guard let since else { return Array(ring.entries[ring.next...] + ring.entries[..<ring.next]) }
            let count = ring.entries.count
            var picked: [Entry] = []
            for back in 0 ..< count {
                let entry = ring.entries[(ring.next - 1 - back + count) % count]
                if entry.time <= since - 1 { break }
                if entry.time > since { picked.append(entry) }
            }
            return picked.reversed()
        }
    }

    public var count: Int { ring.withLock { $0.entries.count } }

    /// Answers `request` with `respond` (the vendor logic) and logs it with the outcome and task the vendor logic
    /// noted on the way (`SimRequestTrace`).
    public func record(_ request: SimRequest, at time: Double = Date().timeIntervalSince1970,
                       _ respond: () -> SimResponse) -> SimResponse {
        let trace = SimRequestTrace()
        let response = SimRequestTrace.$current.withValue(trace) { respond() }
        let (taskID, event) = trace.noted
        append(Entry(time: time, operation: request.operation, taskID: taskID, userAgent: request.userAgent,
                     outcome: event?.rawValue ?? "status_\(response.status)"))
        return response
    }
}

/// What the vendor logic noted while answering one request: the first task it looked up (`SimTaskBook.task`) and
/// the last event it counted (`SimStats.record`). Bound only while `SimRequestLog.record` runs the vendor logic, so
/// control requests and lookups elsewhere note nothing.
public final class SimRequestTrace: Sendable {
    @TaskLocal public static var current: SimRequestTrace?

    private let state = Mutex<(taskID: String?, event: SimStats.Event?)>((nil, nil))

    public init() {}

    func noteTask(_ id: String) { state.withLock { if $0.taskID == nil { $0.taskID = id } } }
    func noteEvent(_ event: SimStats.Event) { state.withLock { $0.event = event } }
    public var noted: (taskID: String?, event: SimStats.Event?) { state.withLock { $0 } }
}
