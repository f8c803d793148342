import CloudRecCore
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Testing

/// Tencent TRTC, Alibaba Live and Alibaba IMS through the real exporter and loopback simulators (real signatures
/// over HTTP), asserted from scraped /metrics: status, raw vendor status, files and outcome counters.
@Suite("Signed vendors end to end", .serialized)
struct SignedVendorLifecycleTests {
    @Test("a recording's lifecycle at each signed vendor", arguments: [Vendor.tencentTRTC, .alibabaLive, .alibabaIMS])
    func lifecycle(_ vendor: Vendor) async throws {
        let clock = SimClock()
        let account: SimulatedAccount
        switch vendor {
        case .tencentTRTC: account = TencentTRTCSimulator.demoAccount(clock: clock, name: "signed")
        case .alibabaLive: account = AlibabaLiveSimulator.demoAccount(clock: clock, name: "signed")
        default: account = AlibabaIMSSimulator.demoAccount(clock: clock, name: "signed")
        }
        account.book.start(id: "rec-1", phase: .starting)
        account.book.start(id: "rec-2")
        try await Harness.run(accounts: [account], configure: { config in
            config.tasks = ["rec-1", "rec-2", "never-seen"].map { TaskSpec(account: "signed", id: $0) }
        }) { harness in
            func metrics() async throws -> Metrics { try await harness.metrics() }
            try await eventually("first answers") {
                let m = try await metrics()
                return m.status(account: "signed", task: "rec-2") == "running" && m.outcomes(account: "signed", "not_found") > 0
                    && m.status(account: "signed", task: "rec-1") != "unknown"
            }
            var m = try await metrics()
            let startingStatus = m.status(account: "signed", task: "rec-1")
            // Tencent and Live have no "starting" state of their own (Tencent Idle and Live RUNNING map to running).
            #expect(startingStatus == (vendor == .alibabaIMS ? "initializing" : "running"))
            #expect(m.status(account: "signed", task: "never-seen") == "unknown")
            #expect(m.outcomes(account: "signed", "success") > 0)
            #expect(m.outcomes(account: "signed", "auth_error") == 0, "signatures verify over real HTTP")

            account.book.setPhase("rec-1", .recording)
            account.book.addFile("rec-1", name: "rec-1/part0.mp4", format: .mp4, uploadState: .uploaded)
            account.book.addFile("rec-1", name: "rec-1/index.m3u8", format: .hls, uploadState: .uploaded)
            if vendor == .alibabaLive { account.book.update("rec-1") { $0.flags.insert(AlibabaLiveSimulator.recoveringFlag) } }
            if vendor == .tencentTRTC { account.book.update("rec-2") { $0.flags.insert("idle") } }
            try await eventually("recording with files") {
                m = try await metrics()
                return m.status(account: "signed", task: "rec-1") == "running"
                    && (vendor == .alibabaIMS || m.value("cloudrec_task_files", ["task_id": "rec-1", "format": "mp4"]) == 1)
                    && (vendor != .tencentTRTC || m.value("cloudrec_task_info", ["task_id": "rec-2", "vendor_status": "Idle"]) == 1)
                    && (vendor != .alibabaLive || m.value("cloudrec_task_info", ["task_id": "rec-1", "vendor_status": "RECOVERING"]) == 1)
            }
            switch vendor {
            case .alibabaLive:
                #expect(m.value("cloudrec_task_info", ["task_id": "rec-1", "vendor_status": "RECOVERING"]) == 1)
                #expect(m.value("cloudrec_task_files", ["task_id": "rec-1", "format": "hls"]) == 1)
            case .tencentTRTC:
                #expect(m.value("cloudrec_task_info", ["task_id": "rec-2", "vendor_status": "Idle"]) == 1)
                #expect(m.value("cloudrec_task_files", ["task_id": "rec-1", "format": "hls"]) == 1)
            default:
                #expect(m.value("cloudrec_task_info", ["task_id": "rec-1", "vendor_status": "started"]) == 1)
                #expect(!m.has("cloudrec_task_files", ["task_id": "rec-1"]), "IMS's status API lists no files")
            }
            #expect(!m.has("cloudrec_task_upload_files", ["task_id": "rec-1"]), "no per-file upload states at this vendor")

            // The end: Tencent and IMS forget the task (an error that marks it finished), Live shows STOPPED.
            account.book.setPhase("rec-1", .ended)
            try await eventually("ended task completed") {
                try await metrics().status(account: "signed", task: "rec-1") == "completed"
            }
            m = try await metrics()
            if vendor == .alibabaLive {
                #expect(m.value("cloudrec_task_info", ["task_id": "rec-1", "vendor_status": "STOPPED"]) == 1)
            } else {
                #expect(m.value("cloudrec_task_status", ["task_id": "rec-1", "status": "failed"]) == 0, "an ended task is finished, not failed")
            }
            #expect(m.status(account: "signed", task: "rec-2") == "running")
        }
    }
}
