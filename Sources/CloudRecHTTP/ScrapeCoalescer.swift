import CloudRecMetrics
import NIOCore
import Synchronization

/// Keeps scrapes cheap however many scrapers there are (HA pairs, federation, ad-hoc curls).
///
/// * **Shared renders.** A scrape that arrives while a render of the same kind (format and encoding) is running
///   waits for that render and answers with it instead of rendering again.
/// * **Short reuse of expensive renders.** A render of a large exposition (at least `minimumReuseBytes`) that took
///   at least `minimumReuseDuration` is also handed to scrapes arriving within its own duration after it finished. Rendering (and gzip) then
///   takes at most about half of one core whatever the scrape rate, and concurrent scrapers see about a single
///   scraper's latency.
///
/// So an answer's snapshot is never older than two render times (a fraction of a second at 100,000 tasks), while
/// the data in it comes from background polls every `poll_interval` anyway. Cheap renders (small fleets, tests)
/// are never reused: every scrape that does not overlap another renders afresh.
public final class ScrapeCoalescer: Sendable {
    public struct Rendered: Sendable {
        public var body: ByteBuffer
        public var gzipped: Bool
        /// Size of the exposition before compression.
        public var uncompressedBytes: Int
    }

    struct Key: Hashable {
        var format: ExpositionFormat
        var gzip: Bool
    }

    struct Completed {
        var rendered: Rendered
        var finished: Duration
        var duration: Duration
    }

    struct State {
        var inFlight: [Key: [CheckedContinuation<Rendered, Never>]] = [:]
        var completed: [Key: Completed] = [:]
    }

    public let minimumReuseDuration: Duration
    public let minimumReuseBytes: Int
    private let state = Mutex(State())
    /// Monotonic time (injectable for tests).
    private let clock: @Sendable () -> Duration

    public convenience init(minimumReuseDuration: Duration = .milliseconds(10), minimumReuseBytes: Int = 1 << 20) {
        let origin = ContinuousClock.now
        self.init(minimumReuseDuration: minimumReuseDuration, minimumReuseBytes: minimumReuseBytes, clock: { ContinuousClock.now - origin })
    }

    init(minimumReuseDuration: Duration, minimumReuseBytes: Int, clock: @escaping @Sendable () -> Duration) {
        self.minimumReuseDuration = minimumReuseDuration
        self.minimumReuseBytes = minimumReuseBytes
        self.clock = clock
    }

    /// Scrapes waiting for a running render of this kind (for tests).
    func waiting(format: ExpositionFormat, gzip: Bool) -> Int {
        state.withLock { $0.inFlight[Key(format: format, gzip: gzip)]?.count ?? 0 }
    }

    enum Plan {
        case reuse(Rendered)
        case join
        case lead
    }

    /// What a scrape of this kind does now: reuse the last render, join the running one, or render (lead).
    func plan(_ key: Key, now: Duration) -> Plan {
        state.withLock { s in
            if let last = s.completed[key], now - last.finished < last.duration {
                return .reuse(last.rendered)
            }
            if s.inFlight[key] != nil { return .join }
            s.inFlight[key] = []
            return .lead
        }
    }

    /// The leader's render is done: remember it if it may be reused and hand back the scrapes that joined it.
    func complete(_ key: Key, _ rendered: Rendered, started: Duration, finished: Duration) -> [CheckedContinuation<Rendered, Never>] {
        let duration = finished - started
        let reusable = rendered.uncompressedBytes >= minimumReuseBytes && duration >= minimumReuseDuration
        return state.withLock { s in
            s.completed[key] = reusable ? Completed(rendered: rendered, finished: finished, duration: duration) : nil
            return s.inFlight.removeValue(forKey: key) ?? []
        }
    }

    /// Drops a kept render once it can no longer be reused, so a large body is not held between scrapes.
    func expire(_ key: Key, finished: Duration) {
        state.withLock { s in
            if s.completed[key]?.finished == finished { s.completed[key] = nil }
        }
    }

    public func render(format: ExpositionFormat, gzip: Bool, _ make: @Sendable () -> Rendered) async -> Rendered {
        let key = Key(format: format, gzip: gzip)
        switch plan(key, now: clock()) {
        case let .reuse(rendered):
            return rendered
        case .join:
            return await withCheckedContinuation { continuation in
                // The leader may have finished between planning and now: then render afresh.
                let joined = state.withLock { s -> Bool in
                    guard s.inFlight[key] != nil else { return false }
                    s.inFlight[key]!.append(continuation)
                    return true
                }
                if !joined { continuation.resume(returning: make()) }
            }
        case .lead:
            let started = clock()
            let rendered = make()
            let finished = clock()
            for waiter in complete(key, rendered, started: started, finished: finished) { waiter.resume(returning: rendered) }
            if rendered.uncompressedBytes >= minimumReuseBytes, finished - started >= minimumReuseDuration {
                Task { [self] in
                    try? await Task.sleep(for: finished - started)
                    expire(key, finished: finished)
                }
            }
            return rendered
        }
    }
}
