@testable import CloudRecHTTP
import CloudRecMetrics
import NIOCore
import Synchronization
import Testing

/// The rules that keep concurrent scrapes cheap, on a fake clock (no timing in the assertions).
@Suite("Scrape coalescing")
struct ScrapeCoalescerTests {
    final class FakeClock: Sendable {
        private let now = Mutex<Duration>(.zero)
        func read() -> Duration { now.withLock { $0 } }
        func advance(_ by: Duration) { now.withLock { $0 += by } }
    }

    static func body(_ size: Int, _ marker: UInt8) -> ScrapeCoalescer.Rendered {
        .init(body: ByteBuffer(bytes: [marker]), gzipped: false, uncompressedBytes: size)
    }

    @Test("a large, slow render is reused within its own duration, then rendered afresh")
    func reuse() async {
        let clock = FakeClock()
        let coalescer = ScrapeCoalescer(minimumReuseDuration: .milliseconds(10), minimumReuseBytes: 1000, clock: clock.read)
        let renders = Atomic<Int>(0)
        let make: @Sendable () -> ScrapeCoalescer.Rendered = {
            let n = renders.add(1, ordering: .relaxed).newValue
            clock.advance(.milliseconds(100))  // the render "takes" 100 ms
            return Self.body(5000, UInt8(n))
        }
        #expect(await coalescer.render(format: .prometheusText, gzip: true, make).body.getInteger(at: 0, as: UInt8.self) == 1)
        clock.advance(.milliseconds(60))
        #expect(await coalescer.render(format: .prometheusText, gzip: true, make).body.getInteger(at: 0, as: UInt8.self) == 1)
        // Another kind (no gzip) is not served from the gzip render.
        #expect(await coalescer.render(format: .prometheusText, gzip: false, make).body.getInteger(at: 0, as: UInt8.self) == 2)
        clock.advance(.milliseconds(150))
        #expect(await coalescer.render(format: .prometheusText, gzip: true, make).body.getInteger(at: 0, as: UInt8.self) == 3)
        #expect(renders.load(ordering: .relaxed) == 3)
    }

    @Test("small or quick renders are never reused", arguments: [(500, 100), (5000, 5)])
    func noReuse(bytes: Int, milliseconds: Int) async {
        let clock = FakeClock()
        let coalescer = ScrapeCoalescer(minimumReuseDuration: .milliseconds(10), minimumReuseBytes: 1000, clock: clock.read)
        let renders = Atomic<Int>(0)
        let make: @Sendable () -> ScrapeCoalescer.Rendered = {
            renders.add(1, ordering: .relaxed)
            clock.advance(.milliseconds(milliseconds))
            return Self.body(bytes, 0)
        }
        for _ in 0..<3 { _ = await coalescer.render(format: .openMetrics, gzip: false, make) }
        #expect(renders.load(ordering: .relaxed) == 3)
    }

    @Test("a scrape arriving while a render runs waits for it and shares it")
    func join() async {
        let coalescer = ScrapeCoalescer(minimumReuseDuration: .seconds(1000), minimumReuseBytes: .max, clock: { .zero })
        let key = ScrapeCoalescer.Key(format: .prometheusText, gzip: false)
        // A render is running (this test plays its leader).
        guard case .lead = coalescer.plan(key, now: .zero) else {
            Issue.record("the first scrape should lead")
            return
        }
        let follower = Task {
            await coalescer.render(format: .prometheusText, gzip: false) {
                Self.body(10, 9)
            }
        }
        while coalescer.waiting(format: .prometheusText, gzip: false) == 0 { await Task.yield() }
        let shared = Self.body(10, 7)
        for waiter in coalescer.complete(key, shared, started: .zero, finished: .zero) { waiter.resume(returning: shared) }
        #expect(await follower.value.body.getInteger(at: 0, as: UInt8.self) == 7)
    }
}
