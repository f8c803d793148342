import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecSimulators
import CloudRecStorage
import CloudRecTestSupport
import Foundation
import Logging
import NIOHTTP1
import Synchronization
import Testing

/// A full disk or a read-only data directory at run time: reported (503, metrics, one log line each way), never
/// fatal to scraping, health or polling; the state kept in memory meanwhile reaches the database once it works again.
@Suite("Storage faults at run time", .serialized)
struct StorageFaultTests {
    static let token = "storage-test-token-0123456789"
    /// Enough allow-listed labels that a registration carrying all of them at full length (about 5.5 KB) cannot fit
    /// in the free space of the table's pages: the database must grow, which a full disk refuses.
    static let labelNames = (0..<40).map { "l\($0)" }

    @Test("registrations get 503, scraping and polling go on, pending state is written after recovery",
          arguments: [SimulatedStorageFault.diskFull, .readOnly])
    func fault(_ fault: SimulatedStorageFault) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-fault-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("data/cloudrec.db").path
        let logs = CapturedLogs()
        let store = try SQLiteTaskStore(path: path, logger: logs.logger)
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-st")
        zego.book.start(id: "steady")
        zego.book.start(id: "ending")
        let bigLabels = "{\"labels\": {" + Self.labelNames.map { "\"\($0)\": \"\(String(repeating: "x", count: 128))\"" }
            .joined(separator: ", ") + "}}"
        let expectedError = fault == .diskFull ? "SQLITE_FULL" : "SQLITE_READONLY"

        try await Harness.run(accounts: [zego], store: store, configure: { config in
            config.api = APIConfig(token: Secret(Self.token), allowedLabels: Self.labelNames)
            config.tasks = ["steady", "ending"].map { TaskSpec(account: zego.name, id: $0) }
        }) { harness in
            let base = "http://127.0.0.1:\(harness.port)"
            func register(_ id: String, _ body: String) async throws -> (status: Int, json: [String: Any]) {
                try await DiscoveryTests.api(base, .PUT, "/api/v1/tasks/zego-st/\(id)", body: body, token: Self.token)
            }
            try await eventually("tasks running, store healthy") {
                let m = try await harness.metrics()
                return m.status(account: "zego-st", task: "steady") == "running" && m.status(account: "zego-st", task: "ending") == "running"
                    && m.value("cloudrec_storage_writable", [:]) == 1 && m.value("cloudrec_storage_write_errors_total", [:]) == 0
                    && m.has("cloudrec_storage_pending_writes", [:])
            }
            #expect(try await register("before", bigLabels).status == 201)

            // The fault, at run time.
            try store.simulateFault(fault)
            let refused = try await register("during", bigLabels)
            #expect(refused.status == 503)
            let reason = refused.json["error"] as? String ?? ""
            #expect(reason.contains(expectedError), "JSON reason names the SQLite error: \(reason)")
            #expect(!reason.contains(Self.token))
            let lookup = try await DiscoveryTests.api(base, .GET, "/api/v1/tasks/zego-st/during", token: Self.token)
            #expect(lookup.status == 404, "not acknowledged, not tracked")

            // Polling goes on: a status change at the vendor during the fault is exported (and kept for the store).
            zego.book.setPhase("ending", .ended)
            try await eventually("status change exported and the failure visible in the storage metrics") {
                let response = try await harness.scrape()
                let m = Metrics(text: String(decoding: response.body, as: UTF8.self))
                var visible = response.status == 200 && m.status(account: "zego-st", task: "ending") == "completed"
                    && m.status(account: "zego-st", task: "steady") == "running"
                    && (m.value("cloudrec_storage_write_errors_total", [:]) ?? 0) >= 1
                if fault == .readOnly {
                    // Every write fails: the gauge stays down, poll results pile up, retries are counted.
                    visible = visible && m.value("cloudrec_storage_writable", [:]) == 0
                        && (m.value("cloudrec_storage_pending_writes", [:]) ?? 0) >= 2
                        && (m.value("cloudrec_storage_write_errors_total", [:]) ?? 0) >= 3
                }
                return visible
            }
            #expect(try await Harness.request(base + "/-/healthy").status == 200)
            #expect(try await Harness.request(base + "/-/ready").status == 200)
            #expect(try await register("during", bigLabels).status == 503, "still refused while the fault lasts")
            // Forgetting a task works in memory at once; its row is deleted once the store works again
            // (last: on a full disk, the pages it frees would make room for a refused registration).
            #expect(try await DiscoveryTests.api(base, .DELETE, "/api/v1/tasks/zego-st/before", token: Self.token).status == 204)
            #expect(try await DiscoveryTests.api(base, .GET, "/api/v1/tasks/zego-st/before", token: Self.token).status == 404)

            // The fault is lifted: pending rows are written, registrations work again.
            try store.simulateFault(nil)
            try await eventually("store writable again, nothing pending") {
                let m = try await harness.metrics()
                return m.value("cloudrec_storage_writable", [:]) == 1 && m.value("cloudrec_storage_pending_writes", [:]) == 0
            }
            let stored = try store.loadAll().compactMap(TrackedTask.init(row:))
            #expect(stored.first { $0.spec.id == "ending" }?.status == .completed, "the state changed during the fault reached the database")
            #expect(stored.first { $0.spec.id == "steady" }?.lastSuccess != nil)
            #expect(try await register("during", bigLabels).status == 201)
            #expect(try await register("after", "{}").status == 201)
        }

        // Log lines mark the transitions only, however many writes failed; they name the path and the SQLite error.
        let failing = logs.lines.filter { $0.contains("task store writes failing") }
        let recovered = logs.lines.filter { $0.contains("task store writes work again") }
        #expect(failing.first?.contains(path) == true && failing.first?.contains(expectedError) == true, "\(failing)")
        #expect(!recovered.isEmpty && recovered.count == failing.count)
        if fault == .readOnly { #expect(failing.count == 1, "one line per transition, not per retry: \(logs.lines)") }

        // Everything acknowledged survives a reopen of the database.
        let reopened = try SQLiteTaskStore(path: path, logger: logs.logger).loadAll().compactMap(TrackedTask.init(row:))
        #expect(Set(reopened.map(\.spec.id)) == ["steady", "ending", "during", "after"], "removed during the fault: before")
        #expect(reopened.first { $0.spec.id == "during" }?.spec.labels.count == Self.labelNames.count)
        #expect(reopened.first { $0.spec.id == "ending" }?.status == .completed)
    }

    @Test("without a store there are no storage metrics")
    func noStore() async throws {
        try await Harness.run(accounts: [ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-ns")]) { harness in
            let m = try await harness.metrics()
            #expect(m.has("cloudrec_exporter_build_info", [:]))
            #expect(!m.text.contains("cloudrec_storage_"))
        }
    }
}

/// Collects log lines (message and metadata) so tests can count them.
final class CapturedLogs: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var logger: Logger { Logger(label: "captured") { _ in Handler(logs: self) } }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            let fields = (metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            logs.storage.withLock { $0.append("\(level) \(message) \(fields)") }
        }
    }
}
