import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Testing

@Suite("Simulator request log")
struct SimRequestLogTests {
    private func entry(_ time: Double, _ task: String = "t") -> SimRequestLog.Entry {
        .init(time: time, operation: "query", taskID: task, userAgent: nil, outcome: "answered")
    }

    @Test func keepsOnlyTheNewestEntriesOldestFirst() {
        let log = SimRequestLog(capacity: 5)
        for second in 1 ... 12 { log.append(entry(Double(second), "t\(second)")) }
        #expect(log.count == 5)
        #expect(log.entries().map(\.time) == [8, 9, 10, 11, 12])
        #expect(log.entries().map(\.taskID) == ["t8", "t9", "t10", "t11", "t12"])
    }

    @Test func sinceKeepsStrictlyLaterArrivals() {
        let log = SimRequestLog(capacity: 100)
        for tenth in 0 ..< 30 { log.append(entry(1000 + Double(tenth) / 10)) }
        #expect(log.entries(since: 1001.5).map(\.time) == (16 ..< 30).map { 1000 + Double($0) / 10 })
        #expect(log.entries(since: 1003).isEmpty)
        #expect(log.entries(since: 0).count == 30)
        // After wrapping, the filter still sees arrival order.
        let small = SimRequestLog(capacity: 4)
        for second in 1 ... 7 { small.append(entry(Double(second))) }
        #expect(small.entries(since: 5).map(\.time) == [6, 7])
        #expect(small.entries(since: 0).map(\.time) == [4, 5, 6, 7])
        // Logged slightly out of time order (two answers in flight): both are found, in logged order.
        let racing = SimRequestLog(capacity: 10)
        for time in [10.0, 10.4, 10.3, 10.6] { racing.append(entry(time)) }
        #expect(racing.entries(since: 10.35).map(\.time) == [10.4, 10.6])
        #expect(racing.entries(since: 10.2).map(\.time) == [10.4, 10.3, 10.6])
    }

    /// A real simulator's answers: the task the vendor logic looked up, the outcome it counted, the client's
    /// User-Agent; a throttled request names no task (refused before the lookup).
    @Test func recordsTaskOutcomeAndUserAgentOfVendorRequests() {
        let book = SimTaskBook(clock: SimClock())
        let sim = AgoraSimulator(book: book, appID: "appid123", customerID: "customer", customerSecret: "secret", qps: 2)
        book.start(id: "sid-1", fields: ["resource_id": "rid-1", "mode": "mix"])
        let log = SimRequestLog()
        func query(_ sid: String, at time: Double) {
            let request = SimRequest(method: "GET", path: "/v1/apps/appid123/cloud_recording/resourceid/rid-1/sid/\(sid)/mode/mix/query",
                                     headers: ["Authorization": AgoraClient.basicAuthorization(customerID: "customer", customerSecret: "secret"),
                                               "User-Agent": "cloudrec_exporter/test replica/r1"])
            _ = log.record(request, at: time) { sim.respond(to: request) }
        }
        query("sid-1", at: 1)
        query("sid-404", at: 2)
        query("sid-1", at: 3)
        let entries = log.entries()
        #expect(entries.map(\.outcome) == ["answered", "not_found", "throttled"])
        #expect(entries.map(\.taskID) == ["sid-1", "sid-404", nil])
        #expect(entries.allSatisfy { $0.userAgent == "cloudrec_exporter/test replica/r1" && $0.operation == "query" })
        // Lookups outside a logged request note nothing.
        _ = book.task("sid-1")
        #expect(log.count == 3)
    }
}
