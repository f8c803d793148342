import Synchronization

/// Gzip scrapes that reuse work: the task families are cut into blocks of `blockSize` tasks per family, each block
/// deflated on its own (`DeflateSegment`) and kept until one of its tasks' lines changes (the store's rendering
/// serials say when). A scrape compresses only the exporter's own families and the blocks that changed, then joins
/// everything into one ordinary gzip member (`GzipMember`): every gzip reader takes it, not only those that accept
/// concatenated members.
///
/// Blocks of 64 tasks keep most of the compression ratio of one whole-body gzip (each block still sees 64 tasks'
/// repeated metric and label names) while a changed task recompresses only its block.
public final class GzipScrapeCache: Sendable {
    public static let blockSize = 64

    struct BlockKey: Hashable {
        var format: ExpositionFormat
        var family: Int
        var block: Int
    }

    struct Entry {
        var serials: ArraySlice<UInt64>
        var segment: DeflateSegment
    }

    struct State {
        let deflater = SegmentDeflater()
        var entries: [BlockKey: Entry] = [:]
        var reused = 0
        var compressed = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Blocks reused and compressed by the last scrape (benchmarks and tests read it).
    public var lastScrapeBlocks: (reused: Int, compressed: Int) { state.withLock { ($0.reused, $0.compressed) } }

    /// The gzip body of `head` + the snapshot's task families in `format` + `tail`; nil when zlib fails (the caller then
    /// compresses the plain body as a whole).
    func gzip(head: [UInt8], snapshot: TaskSeriesStore.Snapshot, format: ExpositionFormat, tail: [UInt8]) -> [UInt8]? {
        state.withLock { s -> [UInt8]? in
            var segments: [DeflateSegment] = []
            guard let headSegment = s.deflater.segment([head[...]]) else { return nil }
            segments.append(headSegment)
            var kept: [BlockKey: Entry] = [:]
            var reused = 0, compressed = 0
            let count = snapshot.tasks.count
            for (family, definition) in TaskFamilies.all.enumerated() where snapshot.familyTasks[family] > 0 {
                var block = 0
                var start = 0
                while start < count {
                    let end = min(count, start + Self.blockSize)
                    let key = BlockKey(format: format, family: family, block: block)
                    let serials = snapshot.serials[start..<end]
                    if let entry = s.entries[key], entry.serials.elementsEqual(serials) {
                        kept[key] = entry
                        segments.append(entry.segment)
                        reused += 1
                    } else {
                        var parts: [ArraySlice<UInt8>] = block == 0 ? [definition.header(format)[...]] : []
                        for task in snapshot.tasks[start..<end] { parts.append(task.slice(family)) }
                        guard let segment = s.deflater.segment(parts) else { return nil }
                        kept[key] = Entry(serials: serials, segment: segment)
                        segments.append(segment)
                        compressed += 1
                    }
                    start = end
                    block += 1
                }
            }
            guard let tailSegment = s.deflater.segment([tail[...]]) else { return nil }
            segments.append(tailSegment)
            // Blocks of other formats stay; this format's blocks are what this scrape used.
            s.entries = s.entries.filter { $0.key.format != format }.merging(kept) { _, new in new }
            (s.reused, s.compressed) = (reused, compressed)
            return GzipMember.assemble(segments)
        }
    }
}
