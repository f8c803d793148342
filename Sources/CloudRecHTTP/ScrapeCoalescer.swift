import CloudRecMetrics
import NIOCore
import Synchronization

/// Concurrent scrapes share one render (and one gzip). A scrape that arrives while a render of the same kind
/// (format and encoding) is running waits for that render and answers with it, instead of rendering again; a
/// scrape that arrives when none is running starts one. With many scrapers (HA pairs, federation, ad-hoc curls)
/// the CPU spent per scrape interval stays about one render however many of them come at once, so their latency
/// stays close to a single scraper's. A shared answer is never older than the joiner's own arrival minus one
/// render; the data in it is a background poll's anyway.
public final class ScrapeCoalescer: Sendable {
    public struct Rendered: Sendable {
        public var body: ByteBuffer
        public var gzipped: Bool
    }

    struct Key: Hashable {
        var format: ExpositionFormat
        var gzip: Bool
    }

    private let inFlight = Mutex<[Key: [CheckedContinuation<Rendered, Never>]]>([:])

    public init() {}

    public func render(format: ExpositionFormat, gzip: Bool, _ make: @Sendable () -> Rendered) async -> Rendered {
        let key = Key(format: format, gzip: gzip)
        let leads: Bool = inFlight.withLock { running in
            if running[key] == nil {
                running[key] = []
                return true
            }
            return false
        }
        guard leads else {
            return await withCheckedContinuation { continuation in
                // The leader may have finished between the check above and now: then render afresh.
                let joined = inFlight.withLock { running -> Bool in
                    guard running[key] != nil else { return false }
                    running[key]!.append(continuation)
                    return true
                }
                if !joined { continuation.resume(returning: make()) }
            }
        }
        let rendered = make()
        let waiters = inFlight.withLock { $0.removeValue(forKey: key) ?? [] }
        for waiter in waiters { waiter.resume(returning: rendered) }
        return rendered
    }
}
