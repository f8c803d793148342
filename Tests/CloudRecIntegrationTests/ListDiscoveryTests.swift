import CloudRecCore
import CloudRecSimulators
import Foundation
import Testing

/// Accounts with `discover: true` track what the vendor's list API reports (ZEGO DescribeTasks, IMS ListLiveRecordJobs).
@Suite("Vendor list API discovery", .serialized)
struct ListDiscoveryTests {
    @Test("ZEGO and IMS tasks that are in no config are discovered, polled and exported", arguments: [Vendor.zego, .alibabaIMS])
    func discovers(_ vendor: Vendor) async throws {
        let clock = SimClock()
        let account = vendor == .zego ? ZegoSimulator.demoAccount(clock: clock, name: "disc") : AlibabaIMSSimulator.demoAccount(clock: clock, name: "disc")
        // More than one page of ZEGO's 50 per page.
        let ids = (0..<60).map { String(format: "listed-%03d", $0) }
        for id in ids { account.book.start(id: id) }
        account.book.start(id: "paused-1", phase: .paused)
        // This test is about discovery, not throttling: let the simulator take our pace.
        (account.simulator as? ZegoSimulator)?.limiter.setLimit(1000)
        (account.simulator as? AlibabaIMSSimulator)?.limiter.setLimit(1000)
        try await Harness.run(accounts: [account], configure: { config in
            config.accounts[0].discover = true
            config.accounts[0].discoverInterval = 0.3
            config.accounts[0].rateLimit = 200
        }) { harness in
            try await eventually("all listed tasks discovered and polled") {
                let m = try await harness.metrics()
                return (ids + ["paused-1"]).allSatisfy { m.status(account: "disc", task: $0) != nil && m.status(account: "disc", task: $0) != "unknown" }
            }
            let m = try await harness.metrics()
            #expect(m.status(account: "disc", task: "paused-1") == "paused")
            let listAPI = vendor == .zego ? "DescribeTasks" : "ListLiveRecordJobs"
            #expect(m.value("cloudrec_api_requests_total", ["account": "disc", "api": listAPI, "outcome": "success"]).map { $0 >= 1 } == true)
            // A recording started later is picked up by the next listing.
            account.book.start(id: "late-starter")
            try await eventually("late task discovered") {
                try await harness.metrics().status(account: "disc", task: "late-starter") == "running"
            }
            let task = try #require(harness.exporter.tracker.task(TaskKey(account: "disc", taskID: "late-starter")))
            #expect(task.sources == [.discovery])
        }
    }

    @Test("a list API that throttles is counted and survived")
    func throttledListing() async throws {
        let zego = ZegoSimulator.demoAccount(clock: SimClock(), name: "disc-throttled")
        for index in 0..<5 { zego.book.start(id: "t-\(index)") }
        // The vendor admits 1 request a second; we start at 40. A listing round is two calls (recording, ended) sent
        // back to back, so the first round is throttled; a round every 3 s leaves a third of the budget to the polls.
        (zego.simulator as! ZegoSimulator).limiter.setLimit(1)
        try await Harness.run(accounts: [zego], configure: { config in
            config.accounts[0].discover = true
            config.accounts[0].discoverInterval = 3
            config.accounts[0].rateLimit = 40
        }) { harness in
            try await eventually("throttled listings counted") {
                try await harness.metrics().value("cloudrec_api_requests_total",
                                                  ["account": "disc-throttled", "api": "DescribeTasks", "outcome": "throttled"]).map { $0 > 0 } == true
            }
            try await eventually("tasks still discovered despite throttling") {
                let m = try await harness.metrics()
                return (0..<5).allSatisfy { m.status(account: "disc-throttled", task: "t-\($0)") == "running" }
            }
            #expect(try await Harness.request(harness.metricsURL).status == 200)
        }
    }
}
