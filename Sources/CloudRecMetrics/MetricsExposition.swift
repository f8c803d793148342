/// Renders a whole scrape: the exporter's own families, then the pre-rendered task families.
public struct MetricsExposition: Sendable {
    public let store: TaskSeriesStore
    public let families: [any ExposedFamily]
    /// Compressed task blocks kept between gzip scrapes.
    public let gzipCache = GzipScrapeCache()
    /// Counts scrape bodies rendered when given (the exporter's `cloudrec_scrape_renders_total`, one of `families`).
    let renders: CounterFamily?

    public init(store: TaskSeriesStore, families: [any ExposedFamily], renders: CounterFamily? = nil) {
        self.store = store
        self.families = families
        self.renders = renders
    }

    /// A scrape's content at one instant: the exporter's families written out, the task series as a snapshot
    /// (O(1)); copying the series is left to `render(_:)`, which needs no lock.
    public struct Collected: Sendable {
        let format: ExpositionFormat
        let head: [UInt8]
        let snapshot: TaskSeriesStore.Snapshot
    }

    public func render(_ format: ExpositionFormat) -> [UInt8] { render(collect(format)) }

    /// The cheap part of a scrape (bounded families and the snapshot): callers that must exclude configuration
    /// changes hold their lock around this only.
    public func collect(_ format: ExpositionFormat) -> Collected {
        renders?.increment([])
        let snapshot = store.renderSnapshot()
        var head: [UInt8] = []
        head.reserveCapacity(16_384)
        var samples: [UInt8] = []
        let scrape = ScrapeInput(format: format, snapshot: snapshot)
        for exposed in families {
            samples.removeAll(keepingCapacity: true)
            exposed.writeSamples(into: &samples, scrape: scrape)
            // A family with no samples is left out entirely, as client libraries do.
            guard !samples.isEmpty else { continue }
            head.append(contentsOf: exposed.family.header(format))
            head.append(contentsOf: samples)
        }
        return Collected(format: format, head: head, snapshot: snapshot)
    }

    /// The same scrape as `render(_:)`, gzip-compressed, reusing the compressed blocks of tasks that did not change
    /// since the last gzip scrape (`GzipScrapeCache`); nil when zlib failed, and the caller compresses `render(_:)`.
    public func renderGzip(_ collected: Collected) -> (body: [UInt8], uncompressedBytes: Int)? {
        let tail = Self.tail(collected.format)
        let size = collected.head.count + collected.snapshot.renderedSize(collected.format) + tail.count
        return gzipCache.gzip(head: collected.head, snapshot: collected.snapshot, format: collected.format, tail: tail)
            .map { ($0, size) }
    }

    static func tail(_ format: ExpositionFormat) -> [UInt8] { format == .openMetrics ? Array("# EOF\n".utf8) : [] }

    public func render(_ collected: Collected) -> [UInt8] {
        let (format, head, snapshot) = (collected.format, collected.head, collected.snapshot)
        let tail = Self.tail(format)
        let taskBytes = snapshot.renderedSize(format)
        let total = head.count + taskBytes + tail.count
        // One allocation of the exact size; the task families are copied straight into it.
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            _ = buffer.initialize(fromContentsOf: head)
            let written = snapshot.write(format, to: UnsafeMutableBufferPointer(rebasing: buffer[head.count..<(head.count + taskBytes)]))
            precondition(written == taskBytes, "rendered size mismatch")
            _ = UnsafeMutableBufferPointer(rebasing: buffer[(head.count + taskBytes)...]).initialize(fromContentsOf: tail)
            initialized = total
        }
    }
}
