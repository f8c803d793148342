@testable import CloudRecPolling
import Testing

/// The budget's decisions with explicit times (no clock, no sleeping): a driver sends whenever the budget allows.
@Suite("Request budget")
struct RequestBudgetTests {
    /// Sends as early as the budget allows from `start` until `end`; returns the send times.
    static func drive(_ budget: RequestBudget, from start: Double, to end: Double, delay: (Int) -> Double = { _ in 0 },
                      onSend: (Double) -> Void = { _ in }) -> [Double] {
        var now = start
        var sends: [Double] = []
        while true {
            let at = budget.nextSendTime(now: now) + delay(sends.count)
            guard at < end else { return sends }
            budget.recordSend(at: at)
            sends.append(at)
            onSend(at)
            now = at
        }
    }

    /// The most requests in any window of one second, as the vendors' sliding-window limiters count.
    static func maxInAnySecond(_ times: [Double]) -> Int {
        var best = 0
        var first = 0
        for (index, time) in times.enumerated() {
            while times[first] <= time - 1 { first += 1 }
            best = max(best, index - first + 1)
        }
        return best
    }

    @Test("paces evenly just under the limit and never puts more than the limit into one second")
    func pacing() {
        let budget = RequestBudget(limit: 10)
        let sends = Self.drive(budget, from: 1000, to: 1060)
        #expect(Self.maxInAnySecond(sends) <= 10)
        #expect(sends.count >= Int(0.95 * 600))
        let gaps = zip(sends.dropFirst(), sends).map { $0 - $1 }
        #expect(gaps.allSatisfy { abs($0 - 1 / (10 * RequestBudget.safetyMargin)) < 1e-6 })
    }

    @Test("late sends (scheduler delays) do not eat the budget, and never bunch into one window")
    func lateWakeUps() {
        let budget = RequestBudget(limit: 20)
        // Every fifth send wakes up 10 ms late (a fifth of the interval).
        let sends = Self.drive(budget, from: 0, to: 60, delay: { $0 % 5 == 3 ? 0.01 : 0 })
        #expect(Self.maxInAnySecond(sends) <= 20)
        #expect(sends.count >= Int(0.95 * 20 * 60))
    }

    @Test("a throttle lands the rate just under what the vendor admitted, then holds, then recovers slowly")
    func throttleAndRecovery() {
        // rate_limit 15 against a vendor that admits 10 per second.
        let budget = RequestBudget(limit: 15)
        var admitted: [Double] = []
        var throttledAt: [Double] = []
        _ = Self.drive(budget, from: 0, to: 120, onSend: { sent in
            let inWindow = admitted.filter { $0 > sent - 1 }.count
            if inWindow < 10 {
                admitted.append(sent)
                budget.recordAdmitted(sentAt: sent, now: sent + 0.005)
            } else {
                throttledAt.append(sent)
                budget.recordThrottled(sentAt: sent, now: sent + 0.005, retryAfter: nil)
            }
        })
        // One throttle to learn the limit, then at most one probe per hold period.
        #expect(throttledAt.count >= 1)
        #expect(throttledAt.filter { $0 < 60 }.count <= 3, "\(throttledAt)")
        #expect(Double(throttledAt.count) / Double(admitted.count + throttledAt.count) < 0.01)
        // Most of the vendor's limit is still used.
        #expect(Double(admitted.filter { $0 >= 60 }.count) / 60 >= 9)
        #expect(budget.currentRate <= 15 * RequestBudget.safetyMargin)
    }

    @Test("a throttle halves nothing twice for requests already in flight; retry-after pauses")
    func onceperRoundTrip() {
        let budget = RequestBudget(limit: 10)
        budget.recordSend(at: 0)
        budget.recordAdmitted(sentAt: 0, now: 0.05)
        budget.recordSend(at: 0.1)
        budget.recordThrottled(sentAt: 0.1, now: 0.2, retryAfter: nil)
        let afterFirst = budget.currentRate
        #expect(afterFirst < 10 * RequestBudget.safetyMargin)
        // Sent before the decrease took effect: no second decrease.
        budget.recordThrottled(sentAt: 0.15, now: 0.25, retryAfter: 3)
        #expect(budget.currentRate == afterFirst)
        #expect(budget.nextSendTime(now: 0.3) >= 3.25)
        #expect(budget.throttleCount == 2)
    }

    @Test("a vendor refusing everything pauses sending (doubling to the cap) instead of cutting the rate; full rate after")
    func refusalPause() {
        let budget = RequestBudget(limit: 10, maxRefusalPause: 1)
        let fullRate = budget.currentRate
        var sent: [Double] = []
        // The vendor refuses every call from t=10 to t=20, admits them otherwise.
        _ = Self.drive(budget, from: 0, to: 30, onSend: { time in
            sent.append(time)
            if time >= 10 && time < 20 {
                budget.recordThrottled(sentAt: time, now: time + 0.005, retryAfter: nil)
            } else {
                budget.recordAdmitted(sentAt: time, now: time + 0.005)
            }
        })
        #expect(budget.currentRate == fullRate, "the decreases of the burst's first second are undone")
        let during = sent.filter { $0 >= 11 && $0 < 20 }.count
        #expect(during >= 8 && during <= 12, "about one probe per capped pause (1 s): \(during)")
        let firstAfter = sent.first { $0 >= 20 } ?? .infinity
        #expect(firstAfter < 21, "a probe within the cap after the burst ends: \(firstAfter)")
        let after = sent.filter { $0 >= 22 && $0 < 30 }.count
        #expect(Double(after) / 8 >= 9, "back at full rate: \(Double(after) / 8)/s")
        // Calls already in flight when a pause starts do not double it again.
        let fresh = RequestBudget(limit: 10, maxRefusalPause: 8)
        fresh.recordThrottled(sentAt: 0, now: 0.01, retryAfter: nil)
        fresh.recordThrottled(sentAt: 0.005, now: 0.02, retryAfter: nil)
        #expect(fresh.nextSendTime(now: 0.02) <= 0.01 + RequestBudget.initialRefusalPause + 1e-9)
    }

    @Test("a request that reached the vendor late (slow connection) moves the window guard with it")
    func lateArrival() {
        let budget = RequestBudget(limit: 10)
        for index in 0..<10 {
            let sent = Double(index) * 0.11
            budget.recordSend(at: sent)
            // The first request waited for a TLS handshake: answered 300 ms later; the others within 2 ms.
            budget.recordAdmitted(sentAt: sent, now: sent + (index == 0 ? 0.3 : 0.002))
        }
        // It may have arrived as late as 0.3 - 0.002, so the eleventh request waits until a second after that.
        #expect(budget.nextSendTime(now: 1.1) >= 0.298 + 1)
        // Unanswered requests count from their send time.
        let other = RequestBudget(limit: 10)
        for index in 0..<10 { other.recordSend(at: Double(index) * 0.11) }
        #expect(other.nextSendTime(now: 1.1) == 1.1)
    }

    @Test("utilization is the share of rate_limit sent over the last ten seconds")
    func utilization() {
        let budget = RequestBudget(limit: 10)
        _ = Self.drive(budget, from: 0, to: 20)
        let value = budget.utilization(now: 20)
        #expect(value > 0.9 && value <= 1)
        #expect(budget.utilization(now: 100) == 0)
    }
}

@Suite("Per-account concurrency")
struct ConcurrencyLimiterTests {
    @Test("holds callers over the limit, hands a released slot to the next, follows a raised or lowered limit")
    func limits() async {
        let limiter = ConcurrencyLimiter(limit: 2)
        await limiter.acquire()
        await limiter.acquire()
        #expect(limiter.inUse == 2)
        let third = Task { await limiter.acquire() }
        #expect(limiter.inUse == 2, "the third caller waits")
        limiter.release()
        await third.value
        #expect(limiter.inUse == 2, "the slot passed straight to the waiter")
        let fourth = Task { await limiter.acquire() }
        limiter.setLimit(3)
        await fourth.value
        #expect(limiter.inUse == 3, "a raised limit lets the waiter in")
        limiter.setLimit(1)
        limiter.release()
        limiter.release()
        #expect(limiter.inUse == 1, "a lowered limit takes effect as calls finish")
        limiter.release()
        #expect(limiter.inUse == 0)
    }
}

