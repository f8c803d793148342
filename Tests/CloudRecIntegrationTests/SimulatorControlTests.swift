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
}
