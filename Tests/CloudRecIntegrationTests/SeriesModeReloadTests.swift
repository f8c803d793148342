import CloudRecApp
import CloudRecCore
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Testing

/// `global.task_series` switched back and forth by reloading the config file: per-task series follow each mode at
/// once, none is left behind, the per-account gauges keep counting every task, and a bad mode is refused with file,
/// line and key while the running mode stays.
@Suite("Cardinality modes on reload", .serialized)
struct SeriesModeReloadTests {
    @Test("all, attention, none, all: no orphan series; a bad mode is a config error")
    func switching() async throws {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "zego-modes")
        zego.book.start(id: "ok")
        zego.book.start(id: "bad", phase: .exitedAbnormally)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-modes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cloudrec.yml").path
        func text(_ mode: String, endpoint: String) -> String {
            let line = ReloadBurstTests.AccountLine(account: zego, endpoint: endpoint, rateLimit: 20, pollInterval: "200ms")
            return ReloadBurstTests.version(mode, accounts: [line], tasks: [(zego, "ok"), (zego, "bad")]).text
                .replacingOccurrences(of: "global:\n", with: "global:\n  task_series: \(mode)\n")
        }

        try await Harness.run(accounts: [zego], source: { config in
            try ReloadBurstTests.write(text("all", endpoint: config.accounts[0].endpoint), to: path)
            return .file(path)
        }) { harness in
            let endpoint = try #require(harness.exporter.config?.accounts.first?.endpoint)
            try await eventually("both tasks polled") {
                let metrics = try await harness.metrics()
                return metrics.status(account: zego.name, task: "ok") == "running" && metrics.status(account: zego.name, task: "bad") == "failed"
            }
            for (mode, expected) in [("attention", ["bad"]), ("none", []), ("all", ["ok", "bad"]), ("attention", ["bad"]), ("all", ["ok", "bad"])] {
                try ReloadBurstTests.write(text(mode, endpoint: endpoint), to: path)
                #expect(await harness.exporter.reload() == nil)
                let metrics = try await harness.metrics()
                let withSeries = Set(metrics.samples.compactMap { $0.labels["task_id"] })
                #expect(withSeries == Set(expected), "\(mode)")
                #expect(metrics.value("cloudrec_tasks", ["account": zego.name, "status": "running"]) == 1, "\(mode)")
                #expect(metrics.value("cloudrec_tasks", ["account": zego.name, "status": "failed"]) == 1, "\(mode)")
            }
            try ReloadBurstTests.write(text("some", endpoint: endpoint), to: path)
            let error = try #require(await harness.exporter.reload())
            #expect(error.contains("\(path):2:"), "\(error)")
            #expect(error.contains("global.task_series"), "\(error)")
            let metrics = try await harness.metrics()
            #expect(Set(metrics.samples.compactMap { $0.labels["task_id"] }) == ["ok", "bad"])
        }
    }
}
