import Synchronization

/// Caps the number of vendor calls one account has in flight. Each account has its own, so a vendor that hangs
/// holds only its own account's slots; the engine sets every limit to an even share of `max_concurrent_requests`.
public final class ConcurrencyLimiter: Sendable {
    private struct State {
        var limit: Int
        var inUse = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(limit: Int) { state = Mutex(State(limit: max(1, limit))) }

    public var limit: Int { state.withLock { $0.limit } }
    public var inUse: Int { state.withLock { $0.inUse } }

    /// A higher limit lets waiting callers in at once; a lower one takes effect as calls finish.
    public func setLimit(_ limit: Int) {
        let admitted = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.limit = max(1, limit)
            var admitted: [CheckedContinuation<Void, Never>] = []
            while s.inUse < s.limit, !s.waiters.isEmpty {
                s.inUse += 1
                admitted.append(s.waiters.removeFirst())
            }
            return admitted
        }
        for waiter in admitted { waiter.resume() }
    }

    public func acquire() async {
        await withCheckedContinuation { continuation in
            let admitted = state.withLock { s -> Bool in
                guard s.inUse < s.limit else {
                    s.waiters.append(continuation)
                    return false
                }
                s.inUse += 1
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    public func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            // The slot passes straight to the next waiter, unless a lowered limit wants it back.
            if s.inUse <= s.limit, !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.inUse -= 1
            return nil
        }
        next?.resume()
    }
}
