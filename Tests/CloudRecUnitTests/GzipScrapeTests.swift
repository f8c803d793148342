import CloudRecCore
import CloudRecMetrics
import CompressNIO
import NIOCore
import PropertyBased
import Testing

/// Gzip scrapes joined from cached blocks decompress to exactly the plain scrape, whatever changed in between, and
/// reuse the blocks of tasks that did not change.
@Suite("Gzip scrapes from cached blocks")
struct GzipScrapeTests {
    static func export(_ index: Int, status: TaskStatus = .running, success: Double = 1_700_000_000) -> TaskExport {
        TaskExport(vendor: index % 2 == 0 ? .zego : .agora, account: "acct-\(index % 3)", taskID: "task-\(index)", status: status,
                   vendorStatus: "2", fileCounts: [.mp4: index % 4, .hls: 1], uploadCounts: index % 5 == 0 ? [.uploaded: 1] : nil,
                   totalSizeBytes: Int64(index) * 1_000_003, recordedSeconds: Double(index) * 1.5, startTime: 1_699_999_000,
                   lastSuccess: success)
    }

    static func gunzip(_ body: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: body)
        let plain = try buffer.decompress(with: .gzip())
        return Array(buffer: plain)
    }

    static func check(_ exposition: MetricsExposition, _ format: ExpositionFormat) throws {
        let collected = exposition.collect(format)
        let plain = exposition.render(collected)
        let gzipped = try #require(exposition.renderGzip(collected))
        #expect(gzipped.uncompressedBytes == plain.count)
        #expect(try gunzip(gzipped.body) == plain)
    }

    @Test("joined blocks decompress to the plain scrape in both formats, and unchanged blocks are reused")
    func matchesPlainAndReuses() throws {
        let store = TaskSeriesStore()
        let exposition = MetricsExposition(store: store, families: [])
        for index in 0..<300 { store.set(TaskKey(account: "acct-\(index % 3)", taskID: "task-\(index)"), Self.export(index)) }
        for format in ExpositionFormat.allCases { try Self.check(exposition, format) }
        let first = exposition.gzipCache.lastScrapeBlocks
        #expect(first.reused == 0 && first.compressed > 0)
        try Self.check(exposition, .prometheusText)
        #expect(exposition.gzipCache.lastScrapeBlocks.compressed == 0)
        // One task changes: only its blocks (one per family it has lines in) are compressed again.
        store.set(TaskKey(account: "acct-1", taskID: "task-1"), Self.export(1, status: .completed, success: 1_700_000_100))
        try Self.check(exposition, .prometheusText)
        let after = exposition.gzipCache.lastScrapeBlocks
        #expect(after.compressed > 0 && after.compressed <= TaskFamilies.all.count)
        #expect(after.reused == first.compressed - after.compressed)
    }

    @Test("an empty store and a store with one task give valid gzip")
    func smallStores() throws {
        let store = TaskSeriesStore()
        let exposition = MetricsExposition(store: store, families: [])
        for format in ExpositionFormat.allCases { try Self.check(exposition, format) }
        store.set(TaskKey(account: "a", taskID: "t"), Self.export(7))
        for format in ExpositionFormat.allCases { try Self.check(exposition, format) }
    }

    @Test("generated sequences of sets and removals: every gzip scrape decompresses to the plain one")
    func generatedChanges() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...400).array(of: 1...60), Gen.int(in: 0...2).array(of: 1...60)) { ids, ops in
            let store = TaskSeriesStore()
            let exposition = MetricsExposition(store: store, families: [])
            for (step, id) in ids.enumerated() {
                let key = TaskKey(account: "acct-\(id % 3)", taskID: "task-\(id)")
                switch ops[step % ops.count] {
                case 0: store.remove(key)
                default: store.set(key, Self.export(id, success: Double(step)))
                }
                if step % 7 == 0 || step == ids.count - 1 {
                    let collected = exposition.collect(step % 2 == 0 ? .prometheusText : .openMetrics)
                    let plain = exposition.render(collected)
                    guard let gzipped = exposition.renderGzip(collected) else {
                        Issue.record("zlib failed")
                        return
                    }
                    #expect((try? Self.gunzip(gzipped.body)) == plain)
                }
            }
        }
    }
}
