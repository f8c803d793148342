import Synchronization

/// An account's request budget, shaped like the vendors' limiters: at most N requests in any sliding one-second
/// window (the simulators enforce exactly that, and it is the strictest reading of "N QPS").
///
/// * **Pacing.** Requests are spaced evenly at `rate` (the token bucket with no burst): planned slots advance from
///   the previous slot, not from the actual send, so small scheduling delays do not eat into the budget.
/// * **Window guard.** Independently of pacing, a request may only go when the `windowCount`-th most recent request
///   reached the vendor more than `window` ago. That arrival is bounded by what we saw: not before its send, and,
///   once answered, not after the answer minus the fastest round trip seen (a request that waited for a new
///   connection's TLS handshake arrives late, and would otherwise share a vendor window with requests sent a second
///   after it). This is what keeps late wake-ups and slow connections from putting N+1 requests into one vendor
///   window. `window` is one second plus a small guard band.
/// * **Adaptive backoff** when the vendor throttles anyway (another client shares the quota, or `rate_limit` is set
///   above the vendor's limit): multiplicative decrease by a factor between 0.5 and 0.9, picked from the rate the
///   vendor actually admitted in the second before the refusal (a sliding-window vendor admits exactly its limit
///   per window, so this lands just under it); one decrease per round trip; then a hold with no increase, and slow
///   additive recovery (2% of `rate_limit` per 5 s). Each throttle that follows a recovery doubles the hold (30 s up
///   to 5 min), so a `rate_limit` that is set too high costs a throttled call every few minutes, not every few
///   seconds.
/// * **Refusal pause** when the vendor admitted none of our calls in the second before a refusal: it is refusing
///   everything (an incident, or other clients spending the whole quota), which says nothing about our rate. The
///   decreases made since the refusals began are undone (they were taken as if the vendor's limit had been met) and
///   sending pauses instead, 0.25 s doubling up to `maxRefusalPause` (half the account's poll interval), one probe
///   per pause; the first admitted call ends it. A vendor that is merely over its limit keeps admitting calls every
///   second, so it never looks like this. Without the pause, every burst cut the rate to the floor for minutes, and
///   a churning fleet's ended tasks piled up unseen (found by the 10-minute soak).
public final class RequestBudget: Sendable {
    /// Sends, oldest first, with a moving head (amortised O(1) append and prune), and when each was answered.
    struct SendLog {
        struct Entry {
            var sent: Double
            var answered: Double?
        }
        private var items: [Entry] = []
        private var head = 0

        var count: Int { items.count - head }
        mutating func append(_ time: Double) { items.append(Entry(sent: time)) }
        /// The k-th most recent entry (k = 1 is the newest).
        func recent(_ k: Int) -> Entry? { k >= 1 && k <= count ? items[items.count - k] : nil }
        mutating func prune(before cutoff: Double, keepAtLeast minimum: Int) {
            while count > minimum, items[head].sent < cutoff { head += 1 }
            if head > 1024, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
        }
        func count(from start: Double, to end: Double) -> Int {
            var n = 0
            for entry in items[head...] where entry.sent >= start && entry.sent < end { n += 1 }
            return n
        }
        /// Notes the answer to the request sent at `sent` (sends are in time order: binary search).
        mutating func markAnswered(sent: Double, at time: Double) {
            var low = head, high = items.count
            while low < high {
                let mid = (low + high) / 2
                if items[mid].sent < sent { low = mid + 1 } else { high = mid }
            }
            if low < items.count, items[low].sent == sent { items[low].answered = time }
        }
    }

    /// The fastest recent round trips (a small ring; the minimum is the estimate).
    struct RoundTrips {
        private var samples: [Double] = []
        private var next = 0
        private(set) var minimum = Double.infinity

        mutating func add(_ value: Double) {
            guard value >= 0 else { return }
            if samples.count < 64 { samples.append(value) } else { samples[next] = value }
            next = (next + 1) % 64
            minimum = samples.min() ?? .infinity
        }
    }

    struct State {
        var limit: Double
        /// Planned requests per second (≤ limit × safetyMargin).
        var rate: Double
        /// At most this many sends in any `window`.
        var windowCount: Int
        var nextSlot: Double = 0
        var pausedUntil: Double = 0
        var sends = SendLog()
        var roundTrips = RoundTrips()
        /// Send times of calls the vendor admitted (answered anything but "throttled"); unordered.
        var admitted: [Double] = []
        var lastDecrease: Double = -.infinity
        var holdUntil: Double = -.infinity
        var hold: Double
        var lastRecovery: Double = -.infinity
        var throttles: Int = 0
        /// The current refusal pause (0: none); calls sent before `refusalPauseStarted` were already in flight.
        var refusalPause: Double = 0
        /// The shape before the first refusal of the current run of refusals (nil: the last answer was admitted).
        var beforeRefusals: Shape?
        var refusalPauseStarted: Double = -.infinity
        var maxRefusalPause: Double

        /// What a run of refusals may change and a refusal pause restores.
        struct Shape {
            var rate: Double
            var windowCount: Int
            var lastDecrease: Double
            var holdUntil: Double
            var hold: Double
            var lastRecovery: Double
        }

        var shape: Shape {
            get { Shape(rate: rate, windowCount: windowCount, lastDecrease: lastDecrease, holdUntil: holdUntil, hold: hold,
                        lastRecovery: lastRecovery) }
            set {
                (rate, windowCount, lastDecrease) = (newValue.rate, newValue.windowCount, newValue.lastDecrease)
                (holdUntil, hold, lastRecovery) = (newValue.holdUntil, newValue.hold, newValue.lastRecovery)
            }
        }

        init(limit: Double, maxRefusalPause: Double) {
            self.limit = limit
            self.maxRefusalPause = max(maxRefusalPause, RequestBudget.initialRefusalPause)
            rate = limit * RequestBudget.safetyMargin
            windowCount = RequestBudget.windowCount(forRate: rate)
            hold = RequestBudget.initialHold
        }
    }

    /// Planned rate as a share of the configured limit; the rest absorbs jitter.
    public static let safetyMargin = 0.97
    /// The vendors' limits are per second; the guard band covers send-to-arrival jitter.
    public static let window = 1.0
    public static let windowGuard = 0.02
    public static let minimumFactor = 0.05
    public static let strongestDecrease = 0.5
    public static let mildestDecrease = 0.9
    public static let initialHold = 30.0
    public static let maximumHold = 300.0
    public static let recoveryStep = 0.02
    public static let recoveryEvery = 5.0
    public static let utilizationWindow = 10.0
    public static let initialRefusalPause = 0.25

    private let state: Mutex<State>

    public init(limit: Double, maxRefusalPause: Double = 15) { state = Mutex(State(limit: limit, maxRefusalPause: maxRefusalPause)) }

    public var limit: Double { state.withLock { $0.limit } }

    /// Changes the limit (HA: this replica's share of `rate_limit` follows the shards it holds). The planned rate and
    /// the window scale with it, backoff included; a lower limit applies to the very next send, and the window
    /// guard keeps counting the sends already made, so lowering never lets a burst through.
    public func setLimit(_ limit: Double, now: Double) {
        state.withLock { s in
            guard limit != s.limit, limit > 0 else { return }
            let factor = limit / s.limit
            s.limit = limit
            s.rate = min(limit * Self.safetyMargin, max(s.rate * factor, limit * Self.minimumFactor))
            s.windowCount = Self.windowCount(forRate: s.rate)
            // A slot planned far ahead at a tiny rate (a standby replica) must not delay the new rate.
            s.nextSlot = min(s.nextSlot, now + 1 / s.rate)
        }
    }
    public var currentRate: Double { state.withLock { $0.rate } }
    public var throttleCount: Int { state.withLock { $0.throttles } }

    static func windowCount(forRate rate: Double) -> Int {
        max(1, Int((rate / safetyMargin * window + 1e-9).rounded(.down)))
    }

    /// The earliest time the next request may be sent (`now` when it may go at once). Call `recordSend` when the
    /// request actually goes.
    public func nextSendTime(now: Double) -> Double {
        state.withLock { s in
            Self.recover(&s, now: now)
            var held = s.pausedUntil
            if let anchor = s.sends.recent(s.windowCount) {
                // Latest possible arrival at the vendor of the request `windowCount` sends ago.
                let arrival = anchor.answered.map { max(anchor.sent, $0 - s.roundTrips.minimum) } ?? anchor.sent
                held = max(held, arrival + Self.window + Self.windowGuard)
            }
            // A wait imposed by the window guard or a pause moves the plan: pacing resumes from there rather than
            // catching up with a burst.
            if held > s.nextSlot { s.nextSlot = held }
            return max(now, s.nextSlot)
        }
    }

    /// Reserves the next slot and returns how long to wait for it (0 when free now): `nextSendTime` and
    /// `recordSend` in one step, for callers that send exactly at the returned time.
    public func reserve(now: Double) -> Double {
        let slot = nextSendTime(now: now)
        recordSend(at: slot)
        return slot - now
    }

    /// A request went out at `time`.
    public func recordSend(at time: Double) {
        state.withLock { s in
            let interval = 1 / s.rate
            // Advance from the planned slot, so a send that woke up a little late does not cost the next one its
            // slot; a send later than one interval (idle, or a long stall) starts the plan afresh.
            s.nextSlot = time - s.nextSlot > interval ? time + interval : s.nextSlot + interval
            s.sends.append(time)
            s.sends.prune(before: time - Self.utilizationWindow, keepAtLeast: s.windowCount)
        }
    }

    /// The vendor answered a request sent at `sentAt` (with anything but "throttled").
    public func recordAdmitted(sentAt: Double, now: Double) {
        state.withLock { s in
            Self.answered(&s, sentAt: sentAt, now: now)
            s.refusalPause = 0
            s.beforeRefusals = nil
            s.admitted.append(sentAt)
            if s.admitted.count > max(64, Int(s.limit * Self.window * 4)) {
                s.admitted.removeAll { $0 < now - 2 * Self.window }
            }
            Self.recover(&s, now: now)
        }
    }

    /// The vendor throttled a request sent at `sentAt`.
    public func recordThrottled(sentAt: Double, now: Double, retryAfter: Double?) {
        state.withLock { s in
            Self.answered(&s, sentAt: sentAt, now: now)
            s.throttles += 1
            if let retryAfter, retryAfter > 0 {
                s.pausedUntil = max(s.pausedUntil, now + min(retryAfter, 60))
            }
            // The vendor's window at the refusal: admitted sends in (sentAt - window, sentAt].
            let admittedInWindow = s.admitted.reduce(0) { $0 + ($1 > sentAt - Self.window && $1 <= sentAt ? 1 : 0) }
            if s.beforeRefusals == nil { s.beforeRefusals = s.shape }
            if admittedInWindow == 0 {
                // Refusing everything: back to the shape before these refusals, and pause (the probe that ends a
                // pause doubles it).
                if let before = s.beforeRefusals { s.shape = before }
                if sentAt >= s.refusalPauseStarted {
                    s.refusalPause = s.refusalPause == 0 ? Self.initialRefusalPause : min(s.refusalPause * 2, s.maxRefusalPause)
                    s.refusalPauseStarted = now
                    s.pausedUntil = max(s.pausedUntil, now + s.refusalPause)
                }
                return
            }
            // Requests sent before the last decrease took effect were planned at the old rate: one decrease per
            // round trip, as TCP does.
            guard sentAt >= s.lastDecrease else { return }
            // Multiplicative decrease by a factor between `strongestDecrease` and `mildestDecrease`, chosen by the
            // rate the vendor admitted in the second before the refusal.
            let measured = Double(admittedInWindow) / Self.window * Self.safetyMargin
            let rate = min(max(measured, s.rate * Self.strongestDecrease), s.rate * Self.mildestDecrease)
            s.rate = max(rate, s.limit * Self.minimumFactor)
            s.windowCount = min(s.windowCount, Self.windowCount(forRate: s.rate))
            s.lastDecrease = now
            // A throttle soon after the previous hold ended means recovery probed too high: hold longer.
            if now < s.holdUntil + 2 * s.hold {
                s.hold = min(s.hold * 2, Self.maximumHold)
            } else {
                s.hold = Self.initialHold
            }
            s.holdUntil = now + s.hold
            s.lastRecovery = s.holdUntil
            // Restart pacing at the new rate from now.
            s.nextSlot = max(s.nextSlot, now + 1 / s.rate)
        }
    }

    /// Old entry point (no send time known): treated as sent just now.
    public func recordThrottled(now: Double, retryAfter: Double?) {
        recordThrottled(sentAt: now, now: now, retryAfter: retryAfter)
    }

    private static func answered(_ s: inout State, sentAt: Double, now: Double) {
        s.sends.markAnswered(sent: sentAt, at: now)
        s.roundTrips.add(now - sentAt)
    }

    private static func recover(_ s: inout State, now: Double) {
        let ceiling = s.limit * safetyMargin
        guard s.rate < ceiling, now >= s.holdUntil else { return }
        let steps = ((now - s.lastRecovery) / recoveryEvery).rounded(.down)
        guard steps >= 1 else { return }
        s.rate = min(ceiling, s.rate + steps * recoveryStep * s.limit)
        s.windowCount = windowCount(forRate: s.rate)
        s.lastRecovery += steps * recoveryEvery
    }

    /// Share of the configured limit used over the last window.
    public func utilization(now: Double) -> Double {
        state.withLock { s in
            let sent = s.sends.count(from: now - Self.utilizationWindow, to: now + 1e-9)
            return min(1, Double(sent) / (Self.utilizationWindow * s.limit))
        }
    }
}
