import CloudRecConfig
import CloudRecCore
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Testing

/// The exporter against the Agora and ZEGO simulators on loopback, asserted from scraped /metrics.
@Suite("Exporter end to end against simulators", .serialized)
struct ExporterLifecycleTests {
    static func accounts() -> [SimulatedAccount] {
        let clock = SimClock()
        // Ended recordings answer 8/20 for 60 s before 404, so a loaded machine cannot miss the abnormal exit
        // (Agora's real window is short; that case is covered by the not-found grace, not by this test).
        let agora = AgoraSimulator.demoAccount(clock: clock, name: "agora-it", endedLingerSeconds: 60)
        return [agora, ZegoSimulator.demoAccount(clock: clock, name: "zego-it")]
    }

    static func tasks(_ accounts: [SimulatedAccount], _ ids: [Vendor: [String]]) -> [TaskSpec] {
        accounts.flatMap { account in
            (ids[account.vendor] ?? []).map { TaskSpec(account: account.name, id: $0, fields: account.taskFields($0)) }
        }
    }

    @Test("status, files, upload states, abnormal exit, upload failure and retention")
    func lifecycle() async throws {
        let accounts = Self.accounts()
        let agora = accounts[0], zego = accounts[1]
        agora.book.start(id: "a-run", fields: agora.taskFields("a-run"))
        agora.book.addFile("a-run", name: "a-run_0.mp4", format: .mp4)
        agora.book.addFile("a-run", name: "a-run_0.m3u8", format: .hls)
        agora.book.start(id: "a-crash", fields: agora.taskFields("a-crash"))
        zego.book.start(id: "z-upload")
        zego.book.addFile("z-upload", name: "z-upload.mp4", format: .mp4, sizeBytes: 5_000_000, durationSeconds: 30)
        zego.book.addFile("z-upload", name: "z-upload.flv", format: .flv)
        zego.book.start(id: "z-crash")
        zego.book.start(id: "z-end")

        try await Harness.run(accounts: accounts, configure: { config in
            config.global.endedTaskRetention = 1.5
            config.tasks = Self.tasks(accounts, [.agora: ["a-run", "a-crash", "a-never"], .zego: ["z-upload", "z-crash", "z-end", "z-never"]])
        }) { harness in
            try await eventually("all known tasks running") {
                let m = try await harness.metrics()
                return ["a-run", "a-crash"].allSatisfy { m.status(account: "agora-it", task: $0) == "running" }
                    && ["z-upload", "z-crash", "z-end"].allSatisfy { m.status(account: "zego-it", task: $0) == "running" }
                    && m.outcomes(account: "zego-it", "not_found") > 0 && m.outcomes(account: "agora-it", "not_found") > 0
            }
            var m = try await harness.metrics()
            #expect(m.value("cloudrec_task_files", ["task_id": "a-run", "format": "mp4"]) == 1)
            #expect(m.value("cloudrec_task_files", ["task_id": "a-run", "format": "hls"]) == 1)
            #expect(m.value("cloudrec_task_info", ["task_id": "a-run", "vendor_status": "5"]) == 1)
            #expect(m.value("cloudrec_task_upload_files", ["task_id": "z-upload", "upload_state": "recording"]) == 2)
            #expect(m.value("cloudrec_task_file_size_bytes", ["task_id": "z-upload"]) == 6_000_000)
            #expect(!m.has("cloudrec_task_upload_files", ["task_id": "a-run"]), "Agora's query reports no upload states")
            // Tasks the vendors never heard of are exported as unknown and counted as not_found.
            #expect(m.status(account: "agora-it", task: "a-never") == "unknown")
            #expect(m.status(account: "zego-it", task: "z-never") == "unknown")
            #expect(m.value("cloudrec_task_info", ["task_id": "z-never", "vendor_status": "300001000"]) == 1)
            #expect(m.value("cloudrec_task_info", ["task_id": "a-never", "vendor_status": "404"]) == 1)
            #expect(m.value("cloudrec_tasks", ["account": "zego-it", "status": "running"]) == 3)

            // Abnormal exits at both vendors, an upload failure, a normal end.
            agora.book.setPhase("a-crash", .exitedAbnormally)
            zego.book.setPhase("z-crash", .exitedAbnormally)
            zego.book.setUploadState("z-upload", .failed, fileIndex: 0)
            zego.book.setUploadState("z-upload", .backupUploaded, fileIndex: 1)
            zego.book.setPhase("z-end", .ended)
            try await eventually("abnormal exits, upload failure and completion exported") {
                m = try await harness.metrics()
                return m.status(account: "agora-it", task: "a-crash") == "failed"
                    && m.status(account: "zego-it", task: "z-crash") == "failed"
                    && m.value("cloudrec_task_upload_files", ["task_id": "z-upload", "upload_state": "failed"]) == 1
                    && m.status(account: "zego-it", task: "z-end") == "completed"
            }
            #expect(m.value("cloudrec_task_info", ["task_id": "a-crash", "vendor_status": "20"]) == 1)
            #expect(m.value("cloudrec_task_upload_files", ["task_id": "z-upload", "upload_state": "backup_uploaded"]) == 1)
            #expect(m.value("cloudrec_task_status", ["task_id": "z-end", "status": "running"]) == 0)

            // Finished tasks keep their final state for ended_task_retention, then their series go.
            try await eventually("ended tasks expire after retention") {
                let m = try await harness.metrics()
                return !m.has("cloudrec_task_status", ["task_id": "z-end"]) && !m.has("cloudrec_task_status", ["task_id": "a-crash"])
            }
            m = try await harness.metrics()
            #expect(m.status(account: "zego-it", task: "z-upload") == "running", "a running task is not expired")
        }
    }

    @Test("throttling by the vendor is counted, backed off and survived")
    func throttling() async throws {
        let accounts = Self.accounts()
        let zego = accounts[1]
        (zego.simulator as! ZegoSimulator).limiter.setLimit(3)
        let ids = (1...12).map { "z-\($0)" }
        for id in ids { zego.book.start(id: id) }
        try await Harness.run(accounts: [zego], configure: { config in
            config.accounts[0].rateLimit = 30
            config.tasks = ids.map { TaskSpec(account: zego.name, id: $0) }
        }) { harness in
            try await eventually("throttled calls counted") {
                let m = try await harness.metrics()
                return (m.value("cloudrec_api_throttled_total", ["account": "zego-it"]) ?? 0) > 0
                    && m.outcomes(account: "zego-it", "throttled") > 0
                    && (m.value("cloudrec_api_errors_total", ["account": "zego-it", "code": "300000003"]) ?? 0) > 0
            }
            try await eventually("every task still gets its status") {
                let m = try await harness.metrics()
                return ids.allSatisfy { m.status(account: "zego-it", task: $0) == "running" }
            }
            let budget = try #require(harness.exporter.engine.poller(for: "zego-it")?.budget)
            #expect(budget.currentRate < 30, "the account's rate backed off after throttling")
        }
    }

    @Test("vendor faults are classified and polling resumes when they stop")
    func vendorFaults() async throws {
        let accounts = Self.accounts()
        let agora = accounts[0]
        agora.book.start(id: "a-1", fields: agora.taskFields("a-1"))
        try await Harness.run(accounts: [agora], configure: { config in
            config.global.requestTimeout = 0.5
            config.tasks = [TaskSpec(account: agora.name, id: "a-1", fields: agora.taskFields("a-1"))]
        }) { harness in
            try await eventually("task seen") { try await harness.metrics().status(account: "agora-it", task: "a-1") == "running" }
            let faults: [(Fault, String)] = [(.httpStatus(500), "server_error"), (.httpStatus(503), "server_error"),
                                             (.notJSON, "decode_error"), (.wrongShape, "decode_error"), (.delay(1.5), "timeout")]
            for (fault, outcome) in faults {
                let before = try await harness.metrics().outcomes(account: "agora-it", outcome)
                agora.simulator.faults.set(fault)
                try await eventually("\(fault) counted as \(outcome)") {
                    try await harness.metrics().outcomes(account: "agora-it", outcome) > before
                }
                agora.simulator.faults.set(nil)
                // The last known status stays exported through the fault.
                #expect(try await harness.metrics().status(account: "agora-it", task: "a-1") == "running")
            }
            let successes = try await harness.metrics().outcomes(account: "agora-it", "success")
            try await eventually("polling resumes after the faults") {
                try await harness.metrics().outcomes(account: "agora-it", "success") > successes
            }
        }
    }
}
