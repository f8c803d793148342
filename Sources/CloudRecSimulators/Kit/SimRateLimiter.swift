import Foundation
import Synchronization

/// Enforces a vendor's documented QPS exactly: at most `limit` admitted requests in any sliding one-second window.
public final class SimRateLimiter: Sendable {
    private struct State {
        var limit: Int
        var admitted: [Double] = []
        var head = 0
    }

    private let state: Mutex<State>

    public init(limit: Int) { state = Mutex(State(limit: limit)) }

    public var limit: Int {
        get { state.withLock { $0.limit } }
    }

    public func setLimit(_ limit: Int) { state.withLock { $0.limit = limit } }

    /// Milliseconds until the sliding window admits a request again (at least 1; 1000 when nothing was admitted,
    /// e.g. a limiter set to refuse everything).
    public func retryAfterMilliseconds(now: Double) -> Int {
        state.withLock { s in
            guard s.limit > 0, s.head < s.admitted.count, s.admitted.count - s.head >= s.limit else { return 1000 }
            let wait = s.admitted[s.head] + 1.0 - now
            return wait.isFinite ? Int(min(1000, max(1, (wait * 1000).rounded(.up)))) : 1000
        }
    }

    public func admit(now: Double) -> Bool {
        state.withLock { s in
            while s.head < s.admitted.count, s.admitted[s.head] <= now - 1.0 { s.head += 1 }
            if s.head > 4096 {
                s.admitted.removeFirst(s.head)
                s.head = 0
            }
            guard s.limit > 0, s.admitted.count - s.head < s.limit else { return false }
            s.admitted.append(now)
            return true
        }
    }
}

/// What a simulator saw, for tests and benchmarks.
public final class SimStats: Sendable {
    public enum Event: String, Sendable, CaseIterable {
        case answered, throttled, authRejected = "auth_rejected", notFound = "not_found", faulted, badRequest = "bad_request"
    }

    private let counts = Mutex<[Event: Int]>([:])

    public init() {}

    public func record(_ event: Event) {
        SimRequestTrace.current?.noteEvent(event)
        counts.withLock { $0[event, default: 0] += 1 }
    }
    public func count(_ event: Event) -> Int { counts.withLock { $0[event, default: 0] } }
    public var snapshot: [Event: Int] { counts.withLock { $0 } }
}
