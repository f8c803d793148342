import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import Foundation
import Logging
import CompressNIO
import NIOCore

struct MemoryResult: Codable {
    var tasks: Int
    var rssBytes: Double
    var peakBytes: Double
    var scrapeBytes: Int
}

/// RSS with N tracked tasks, each in a fresh process: the exporter as configured from a file with N tasks over five
/// accounts (config kept, tasks tracked and scheduled, one successful poll result each), after one scrape.
enum MemoryBench {
    static func child(tasks: Int) throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var config = ExporterConfig(source: "<bench>")
        config.accounts = Fleet.accountSpecs()
        config.tasks = (0..<tasks).map { Fleet.spec($0).spec }
        let app = ExporterApp(source: .fixed(config), transport: AsyncHTTPClientTransport(client: .shared), logger: logger)
        try app.start()
        for index in 0..<tasks {
            let (spec, vendor) = Fleet.spec(index)
            app.tracker.record(spec.key, result: .success(Fleet.observation(index, vendor: vendor)), now: Date().timeIntervalSince1970,
                               notFoundGrace: 0)
        }
        // One scrape (render and gzip); its buffers are gone again when RSS is read (the peak includes them).
        let scrapeBytes: Int = {
            let body = app.renderMetrics(.prometheusText)
            var buffer = ByteBuffer(bytes: body)
            blackHole(try? buffer.compress(with: .gzip(configuration: .init(compressionLevel: 1))))
            return body.count
        }()
        let memory = residentMemory()
        let result = MemoryResult(tasks: tasks, rssBytes: memory.current, peakBytes: memory.peak, scrapeBytes: scrapeBytes)
        let data = try JSONEncoder().encode(result)
        print(String(decoding: data, as: UTF8.self))
        fflush(nil)
        withExtendedLifetime(app) {}
    }

    static func run(executable: String, tasks: Int) throws -> MemoryResult {
        progress("memory: \(count(tasks)) tasks in a fresh process")
        let output = try runProcess(executable, ["memory-child", String(tasks)])
        guard let line = output.split(separator: "\n").last, let data = line.data(using: .utf8) else {
            throw BenchError("memory child printed nothing")
        }
        return try JSONDecoder().decode(MemoryResult.self, from: data)
    }
}
