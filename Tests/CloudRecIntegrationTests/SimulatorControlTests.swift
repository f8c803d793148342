import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import Foundation
import Synchronization
import Testing

/// The simulators' `/_sim/` control API (scripts/e2e.sh drives the demo through it).
@Suite("Simulator control API")
struct SimulatorControlTests {
    let account = AgoraSimulator.demoAccount(clock: SimClock())

    func call(_ control: SimulatorControl, _ method: String, _ path: String, _ body: String? = nil) throws -> (Int, JSONValue) {
        let request = SimRequest(method: method, path: path, body: Array((body ?? "").utf8))
        let response = try #require(control.respond(to: request))
        return (response.status, try JSONValue.parse(response.body))
    }

    @Test("create, list, change phase and per-file upload states; observers learn about new tasks")
    func lifecycle() throws {
        let control = SimulatorControl(book: account.book, defaultFields: account.taskFields)
        let created = Mutex<[String]>([])
        control.onTaskCreated { task in created.withLock { $0.append(task.id) } }

        var (status, task) = try call(control, "POST", "/_sim/tasks", #"{"id": "t1", "phase": "recording", "files": 2}"#)
        #expect(status == 201)
        #expect(task["phase"]?.stringValue == "recording")
        #expect(task["fields"]?["resource_id"]?.stringValue == "rid-t1", "the account's default vendor fields")
        #expect(task["files"]?.arrayValue?.count == 2)
        #expect(created.withLock { $0 } == ["t1"])

        (status, task) = try call(control, "POST", "/_sim/tasks/t1/phase", #"{"phase": "exited_abnormally"}"#)
        #expect(status == 200)
        #expect(account.book.task("t1")?.phase == .exitedAbnormally)
        #expect(account.book.task("t1")?.endTime != nil)

        (status, _) = try call(control, "POST", "/_sim/tasks/t1/upload_state", #"{"state": "uploaded"}"#)
        #expect(status == 200)
        (status, _) = try call(control, "POST", "/_sim/tasks/t1/upload_state", #"{"state": "failed", "file_index": 1}"#)
        #expect(status == 200)
        #expect(account.book.task("t1")?.files.map(\.uploadState) == [.uploaded, .failed])

        (status, task) = try call(control, "POST", "/_sim/tasks", #"{"id": "t2", "phase": "starting", "fields": {"mode": "individual"}}"#)
        #expect(status == 201)
        #expect(account.book.task("t2")?.phase == .starting)
        #expect(account.book.task("t2")?.files.isEmpty == true)
        #expect(account.book.task("t2")?.fields == ["resource_id": "rid-t2", "mode": "individual"])

        (status, task) = try call(control, "GET", "/_sim/tasks")
        #expect(status == 200)
        #expect(task["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["t1", "t2"])
        (status, task) = try call(control, "GET", "/_sim/tasks/t2")
        #expect(status == 200 && task["id"]?.stringValue == "t2")
    }

    @Test("GET /_sim/requests lists the logged vendor requests, oldest first, after `since`; a bad `since` is a 400")
    func requestLog() throws {
        let control = SimulatorControl(book: account.book)
        control.requests.append(.init(time: 100.5, operation: "query", taskID: "t1", userAgent: "cloudrec_exporter/x replica/r1",
                                      outcome: "answered"))
        control.requests.append(.init(time: 101.25, operation: "query", taskID: nil, userAgent: nil, outcome: "throttled"))
        let (status, listed) = try call(control, "GET", "/_sim/requests")
        #expect(status == 200)
        let all = try #require(listed["requests"]?.arrayValue)
        #expect(all.count == 2)
        #expect(all[0]["t"]?.doubleValue == 100.5 && all[0]["task_id"]?.stringValue == "t1")
        #expect(all[0]["user_agent"]?.stringValue == "cloudrec_exporter/x replica/r1" && all[0]["outcome"]?.stringValue == "answered")
        #expect(all[1]["task_id"]?.isNull == true && all[1]["user_agent"]?.isNull == true)
        let request = SimRequest(method: "GET", path: "/_sim/requests", rawQuery: "since=100.5")
        let later = try JSONValue.parse(try #require(control.respond(to: request)).body)
        #expect(later["requests"]?.arrayValue?.compactMap { $0["outcome"]?.stringValue } == ["throttled"])
        let bad = SimRequest(method: "GET", path: "/_sim/requests", rawQuery: "since=soon")
        #expect(try #require(control.respond(to: bad)).status == 400)
        #expect(try call(control, "POST", "/_sim/requests", "{}").0 == 405)
    }

    @Test("bad input gets a 4xx with a JSON reason; other paths are left to the vendor logic")
    func badInput() throws {
        let control = SimulatorControl(book: account.book)
        account.book.start(id: "t1")
        account.book.addFile("t1", name: "t1.mp4", format: .mp4)
        let cases: [(String, String, String?, Int)] = [
            ("POST", "/_sim/tasks", #"{"phase": "recording"}"#, 400),
            ("POST", "/_sim/tasks", "not json", 400),
            ("POST", "/_sim/tasks", #"{"id": "t1"}"#, 409),
            ("POST", "/_sim/tasks", #"{"id": "t9", "phase": "flying"}"#, 400),
            ("POST", "/_sim/tasks", #"{"id": "t9", "fields": {"mode": 1}}"#, 400),
            ("POST", "/_sim/tasks/t1/phase", #"{"phase": "flying"}"#, 400),
            ("POST", "/_sim/tasks/t9/phase", #"{"phase": "ended"}"#, 404),
            ("POST", "/_sim/tasks/t1/upload_state", #"{"state": "lost"}"#, 400),
            ("POST", "/_sim/tasks/t1/upload_state", #"{"state": "failed", "file_index": 1}"#, 400),
            ("GET", "/_sim/tasks/t9", nil, 404),
            ("DELETE", "/_sim/tasks/t1", nil, 405),
            ("GET", "/_sim/other", nil, 404),
        ]
        for (method, path, body, want) in cases {
            let (status, answer) = try call(control, method, path, body)
            #expect(status == want, "\(method) \(path) \(body ?? "")")
            #expect(answer["error"]?.stringValue?.isEmpty == false, "\(method) \(path) \(body ?? "")")
        }
        #expect(account.book.task("t9") == nil)
        #expect(account.book.task("t1")?.files.map(\.uploadState) == [.recording])
        #expect(control.respond(to: SimRequest(method: "GET", path: "/v1/apps/x")) == nil)
    }

    @Test("faults switch on per endpoint and off at run time; bad fault requests get a 4xx with a JSON reason")
    func faults() throws {
        let simulator = ZegoSimulator.demoAccount(clock: SimClock()).simulator
        let control = SimulatorControl(book: simulator.book, faults: simulator.faults)
        var (status, answer) = try call(control, "POST", "/_sim/faults", #"{"fault": "http_status", "status": 503, "operation": "DescribeTasks"}"#)
        #expect(status == 200)
        #expect(answer["faults"]?.arrayValue?.first?["operation"]?.stringValue == "DescribeTasks")
        let listing = SimRequest(method: "GET", path: "/", rawQuery: "Action=DescribeTasks&AppId=1")
        let status_ = SimRequest(method: "GET", path: "/", rawQuery: "Action=DescribeRecordStatus&AppId=1")
        #expect(simulator.faults.fault(for: listing) == .httpStatus(503))
        #expect(simulator.faults.fault(for: status_) == nil, "another endpoint is untouched")
        (status, _) = try call(control, "POST", "/_sim/faults", #"{"fault": "huge_body", "bytes": 5000000}"#)
        #expect(status == 200)
        #expect(simulator.faults.fault(for: status_) == .hugeBody(bytes: 5_000_000), "the every-endpoint fault")
        #expect(simulator.faults.fault(for: listing) == .httpStatus(503), "an endpoint's own fault wins")
        #expect(simulator.respond(to: status_).paddingBytes > 4_000_000)
        (status, _) = try call(control, "POST", "/_sim/faults", #"{"fault": "none", "operation": "DescribeTasks"}"#)
        #expect(simulator.faults.fault(for: listing) == .hugeBody(bytes: 5_000_000))
        (status, answer) = try call(control, "DELETE", "/_sim/faults")
        #expect(status == 200 && answer["faults"]?.arrayValue?.isEmpty == true)
        #expect(simulator.faults.fault(for: listing) == nil)

        for body in [#"{"fault": "meteor"}"#, #"{"fault": "hang"}"#, #"{"fault": "http_status", "status": 200}"#,
                     #"{"fault": "slow_drip", "bytes_per_second": 0}"#, #"{"fault": "clock_skew", "seconds": "soon"}"#, "[]"] {
            (status, answer) = try call(control, "POST", "/_sim/faults", body)
            #expect(status == 400, "\(body)")
            #expect(answer["error"]?.stringValue?.isEmpty == false, "\(body)")
        }
        #expect(simulator.faults.all.isEmpty, "a rejected request switches nothing on")
        (status, _) = try call(control, "PUT", "/_sim/faults", "{}")
        #expect(status == 405)
    }
}
