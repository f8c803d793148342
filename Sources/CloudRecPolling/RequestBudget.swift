import Synchronization

/// An account's request budget: a token bucket with no burst (requests are spaced evenly at the current rate,
/// which is what a vendor's sliding-window limiter wants) and AIMD adaptation when the vendor throttles anyway:
/// the rate halves on each throttled answer and recovers by 2% of the limit per successful one.
public final class RequestBudget: Sendable {
    private struct State {
        var limit: Double
        var factor: Double = 1
        var nextSlot: Double = 0
        var pausedUntil: Double = 0
        /// Send times within the utilisation window.
        var recent: [Double] = []
    }

    /// We plan slightly under the configured limit so network jitter cannot push two requests into one window slot.
    public static let safetyMargin = 0.98
    public static let minimumFactor = 0.05
    public static let utilizationWindow = 10.0

    private let state: Mutex<State>

    public init(limit: Double) { state = Mutex(State(limit: limit)) }

    public var limit: Double { state.withLock { $0.limit } }
    public var currentRate: Double { state.withLock { $0.limit * $0.factor * Self.safetyMargin } }

    /// Reserves the next send slot and returns how long to wait for it (0 when it is free now).
    public func reserve(now: Double) -> Double {
        state.withLock { s in
            let interval = 1 / (s.limit * s.factor * Self.safetyMargin)
            let slot = max(now, s.nextSlot, s.pausedUntil)
            s.nextSlot = slot + interval
            s.recent.append(slot)
            return slot - now
        }
    }

    public func recordSuccess() {
        state.withLock { s in s.factor = min(1, s.factor + 0.02) }
    }

    /// The vendor throttled us: halve the rate and, when it said how long, wait that long before the next call.
    public func recordThrottled(now: Double, retryAfter: Double?) {
        state.withLock { s in
            s.factor = max(Self.minimumFactor, s.factor / 2)
            let pause = min(retryAfter ?? 1, 60)
            s.pausedUntil = max(s.pausedUntil, now + pause)
            s.nextSlot = max(s.nextSlot, s.pausedUntil)
        }
    }

    /// Share of the configured limit used over the last window.
    public func utilization(now: Double) -> Double {
        state.withLock { s in
            s.recent.removeAll { $0 <= now - Self.utilizationWindow }
            let sent = s.recent.filter { $0 <= now }.count
            return min(1, Double(sent) / (Self.utilizationWindow * s.limit))
        }
    }
}

/// Caps the number of vendor calls in flight across all accounts.
public actor ConcurrencyLimiter {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) { available = max(1, limit) }

    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
