import CloudRecCore
import CloudRecSimulators
import Synchronization

/// Drives a simulator's tasks from outside the process (the end-to-end test, a curious demo user). Served by
/// `SimulatorHost` under `/_sim/`, ahead of the vendor logic and its auth, faults and rate limits:
///
///     GET  /_sim/tasks                          {"tasks": [task...]}
///     POST /_sim/tasks                          {"id": "t1", "phase": "recording", "fields": {...}, "files": 1,
///                                                "age_seconds": 0, "flags": ["recovering"]}
///     GET  /_sim/tasks/{id}                     task
///     POST /_sim/tasks/{id}/phase               {"phase": "exited_abnormally"}
///     POST /_sim/tasks/{id}/upload_state        {"state": "failed", "file_index": 0}   (no file_index: every file)
///     GET  /_sim/faults                         {"faults": [{"operation": "*", "fault": "throttle"}...]}
///     POST /_sim/faults                         {"fault": "slow_drip", "bytes_per_second": 20, "operation": "DescribeRecordStatus"}
///     DELETE /_sim/faults                       every fault off
///     GET  /_sim/requests?since=1764412800.25   {"requests": [{"t": 1764412800.31, "operation": "DescribeRecordStatus",
///                                                "task_id": "t1", "user_agent": "cloudrec_exporter/1.4.0 replica/r1",
///                                                "outcome": "answered"}...]}
///
/// The request log (`requests`, a `SimRequestLog`) holds every vendor request the host answered (not the `/_sim/`
/// ones), oldest first, the last 200,000 by default: `t` is the arrival time (Unix seconds, wall clock),
/// `since` (optional, Unix seconds) keeps the ones that arrived strictly after it; `task_id` is null when the
/// vendor logic refused the request before looking a task up (bad signature, `throttled`) or listed tasks;
/// `outcome` is the `SimStats` event (`answered`, `throttled`, `auth_rejected`, `not_found`, `faulted`,
/// `bad_request`; `status_<code>` when the vendor logic counted none); `user_agent` is null when the client sent
/// none. The HA test reads from it which replica polled which task when, and whether any client went over the rate
/// limit.
///
/// Faults (`operation` omitted or `*`: every endpoint; `"fault": "none"` switches one off): `http_status` with
/// `status`, `not_json`, `wrong_shape`, `hang` with `seconds`, `slow_drip` with `bytes_per_second`,
/// `connection_reset`, `truncated_body`, `huge_body` with `bytes`, `throttle`, `clock_skew` with `seconds`.
///
/// Phases: starting, recording, paused, stopping, ended, exited_abnormally. Upload states: recording, uploading,
/// uploaded, backup_uploaded, failed. Answers are JSON; bad input gets a 4xx with `{"error": "..."}`.
/// A created task gets `files` mp4 files (default 1, 0 for `starting`) and the host's default vendor fields
/// merged with the given ones; `onTaskCreated` observers learn about it (the demo starts tracking it). `age_seconds`
/// backdates its creation (Alibaba Live's 3-day query window, IMS list windows); `flags` are the vendor conditions
/// of `SimTask.flags` (`idle`, `recovering`, `stopped_not_queryable`).
public final class SimulatorControl: Sendable {
    public static let prefix = "/_sim/"

    private let book: SimTaskBook
    private let faults: FaultInjector
    private let defaultFields: @Sendable (String) -> [String: String]
    private let observers = Mutex<[@Sendable (SimTask) -> Void]>([])
    /// The vendor requests the host answered (`GET /_sim/requests`).
    public let requests: SimRequestLog

    public init(book: SimTaskBook, faults: FaultInjector = FaultInjector(), requests: SimRequestLog = SimRequestLog(),
                defaultFields: @escaping @Sendable (String) -> [String: String] = { _ in [:] }) {
        self.book = book
        self.faults = faults
        self.requests = requests
        self.defaultFields = defaultFields
    }

    public func onTaskCreated(_ observer: @escaping @Sendable (SimTask) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// The answer to a `/_sim/` request, or nil for any other path (the vendor logic answers those).
    public func respond(to request: SimRequest) -> SimResponse? {
        guard request.path.hasPrefix(Self.prefix) else { return nil }
        let parts = request.path.dropFirst(Self.prefix.count).split(separator: "/").map(String.init)
        if parts == ["requests"] { return requestLog(request) }
        guard parts.first == "tasks" || (parts.first == "faults" && parts.count == 1) else {
            return Self.error(404, "unknown control path \(request.path)")
        }
        let body: JSONValue
        if request.method == "POST" {
            guard let parsed = try? JSONValue.parse(request.body), parsed.isObject else {
                return Self.error(400, "the body must be a JSON object")
            }
            body = parsed
        } else {
            body = .object([])
        }
        if parts[0] == "faults" { return faultRequest(request.method, body) }
        switch (request.method, parts.count) {
        case ("GET", 1): return .json(200, .obj(("tasks", .array(book.all.map(Self.render)))))
        case ("POST", 1): return create(body)
        case ("GET", 2):
            guard let task = book.task(parts[1]) else { return Self.error(404, "no task \(parts[1])") }
            return .json(200, Self.render(task))
        case ("POST", 3) where parts[2] == "phase" || parts[2] == "upload_state":
            guard book.task(parts[1]) != nil else { return Self.error(404, "no task \(parts[1])") }
            return parts[2] == "phase" ? setPhase(parts[1], body) : setUploadState(parts[1], body)
        case (_, 1...3): return Self.error(405, "\(request.method) \(request.path) is not supported")
        default: return Self.error(404, "unknown control path \(request.path)")
        }
    }

    private func faultRequest(_ method: String, _ body: JSONValue) -> SimResponse {
        switch method {
        case "GET": break
        case "DELETE": faults.clearAll()
        case "POST":
            let operation = body["operation"]?.stringValue.flatMap { $0 == "*" ? nil : $0 }
            switch Self.fault(from: body) {
            case let .success(fault): faults.set(fault, operation: operation)
            case let .failure(problem): return Self.error(400, problem.reason)
            }
        default: return Self.error(405, "\(method) \(Self.prefix)faults is not supported")
        }
        let listed = faults.all.sorted { $0.key < $1.key }.map { operation, fault in
            JSONValue.obj(("operation", .string(operation)), ("fault", .string(fault.name)))
        }
        return .json(200, .obj(("faults", .array(listed))))
    }

    private func requestLog(_ request: SimRequest) -> SimResponse {
        guard request.method == "GET" else { return Self.error(405, "\(request.method) \(request.path) is not supported") }
        var since: Double?
        if let text = request.queryValue("since") {
            guard let value = Double(text), value.isFinite else { return Self.error(400, "\"since\" must be Unix seconds (got \"\(text.prefix(40))\")") }
            since = value
        }
        let rendered = requests.entries(since: since).map { entry in
            JSONValue.obj(("t", .number(entry.time)), ("operation", .string(entry.operation)),
                          ("task_id", entry.taskID.map(JSONValue.string) ?? .null),
                          ("user_agent", entry.userAgent.map(JSONValue.string) ?? .null), ("outcome", .string(entry.outcome)))
        }
        return .json(200, .obj(("requests", .array(rendered))))
    }

    struct FaultProblem: Error {
        var reason: String
    }

    /// Reads `{"fault": name, ...parameters}`; `none` is nil (switch off).
    static func fault(from body: JSONValue) -> Result<Fault?, FaultProblem> {
        let name = body["fault"]?.stringValue ?? ""
        func number(_ key: String, _ range: ClosedRange<Double>) -> Result<Double, FaultProblem> {
            guard let value = body[key]?.doubleValue, range.contains(value) else {
                return .failure(FaultProblem(reason: "fault \(name) needs \"\(key)\": a number from \(range.lowerBound) to \(range.upperBound)"))
            }
            return .success(value)
        }
        switch name {
        case "none": return .success(nil)
        case "http_status": return number("status", 400...599).map { .httpStatus(Int($0)) }
        case "not_json": return .success(.notJSON)
        case "wrong_shape": return .success(.wrongShape)
        case "hang": return number("seconds", 0...3600).map { .delay($0) }
        case "slow_drip": return number("bytes_per_second", 1...1_000_000).map { .slowDrip(bytesPerSecond: Int($0)) }
        case "connection_reset": return .success(.connectionReset)
        case "truncated_body": return .success(.truncatedBody)
        case "huge_body": return number("bytes", 1...268_435_456).map { .hugeBody(bytes: Int($0)) }
        case "throttle": return .success(.throttle)
        case "clock_skew": return number("seconds", -86400...86400).map { .clockSkew($0) }
        default:
            return .failure(FaultProblem(reason: "\"fault\" must be one of none, http_status, not_json, wrong_shape, hang, slow_drip, "
                                         + "connection_reset, truncated_body, huge_body, throttle, clock_skew (got \"\(name)\")"))
        }
    }

    private func create(_ body: JSONValue) -> SimResponse {
        guard let id = body["id"]?.stringValue, !id.isEmpty else { return Self.error(400, "\"id\" is required") }
        guard book.task(id) == nil else { return Self.error(409, "task \(id) exists") }
        let phaseName = body["phase"]?.stringValue ?? SimPhase.recording.rawValue
        guard let phase = SimPhase(rawValue: phaseName) else { return Self.error(400, Self.invalid("phase", phaseName, SimPhase.allCases)) }
        var fields = defaultFields(id)
        if let given = body["fields"] {
            guard case let .object(pairs) = given else { return Self.error(400, "\"fields\" must be an object of strings") }
            for (key, value) in pairs {
                guard case let .string(text) = value else { return Self.error(400, "\"fields.\(key)\" must be a string") }
                fields[key] = text
            }
        }
        let fileCount = body["files"]?.intValue ?? (phase == .starting ? 0 : 1)
        guard (0 ... 100).contains(fileCount) else { return Self.error(400, "\"files\" must be an integer from 0 to 100") }
        var age = 0.0
        if let given = body["age_seconds"] {
            guard let seconds = given.doubleValue, (0 ... 90 * 86400).contains(seconds) else {
                return Self.error(400, "\"age_seconds\" must be a number from 0 to 7776000")
            }
            age = seconds
        }
        var flags: Set<String> = []
        if let given = body["flags"] {
            guard let list = given.arrayValue?.compactMap(\.stringValue), list.count == given.arrayValue?.count else {
                return Self.error(400, "\"flags\" must be an array of strings")
            }
            flags = Set(list)
        }
        book.start(id: id, fields: fields, phase: phase == .starting ? .starting : .recording)
        book.update(id) { task in
            task.startTime -= age
            task.flags = flags
        }
        for index in 0 ..< fileCount {
            book.addFile(id, name: "\(id)_\(index).mp4", format: .mp4, sizeBytes: 1_000_000, durationSeconds: 10)
        }
        if phase != .recording, phase != .starting { book.setPhase(id, phase) }
        let task = book.task(id)!
        for observer in observers.withLock({ $0 }) { observer(task) }
        return .json(201, Self.render(task))
    }

    private func setPhase(_ id: String, _ body: JSONValue) -> SimResponse {
        let name = body["phase"]?.stringValue ?? ""
        guard let phase = SimPhase(rawValue: name) else { return Self.error(400, Self.invalid("phase", name, SimPhase.allCases)) }
        book.setPhase(id, phase)
        return .json(200, Self.render(book.task(id)!))
    }

    private func setUploadState(_ id: String, _ body: JSONValue) -> SimResponse {
        let name = body["state"]?.stringValue ?? ""
        guard let state = UploadState(rawValue: name) else { return Self.error(400, Self.invalid("state", name, UploadState.allCases)) }
        var fileIndex: Int?
        if let given = body["file_index"], !given.isNull {
            guard let index = given.intValue, book.task(id)!.files.indices.contains(index) else {
                return Self.error(400, "\"file_index\" must be the index of one of the task's \(book.task(id)!.files.count) file(s)")
            }
            fileIndex = index
        }
        book.setUploadState(id, state, fileIndex: fileIndex)
        return .json(200, Self.render(book.task(id)!))
    }

    static func render(_ task: SimTask) -> JSONValue {
        .obj(("id", .string(task.id)), ("phase", .string(task.phase.rawValue)),
             ("fields", .object(task.fields.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
             ("start_time", .number(task.startTime)), ("end_time", task.endTime.map(JSONValue.number) ?? .null),
             ("files", .array(task.files.map { file in
                 .obj(("name", .string(file.name)), ("format", .string(file.format.rawValue)),
                      ("upload_state", .string(file.uploadState.rawValue)), ("size_bytes", .number(Double(file.sizeBytes))),
                      ("duration_seconds", .number(file.durationSeconds)))
             })))
    }

    static func invalid<T: RawRepresentable<String>>(_ key: String, _ got: String, _ allowed: [T]) -> String {
        "\"\(key)\" must be one of \(allowed.map(\.rawValue).joined(separator: ", ")) (got \"\(got)\")"
    }

    static func error(_ status: Int, _ reason: String) -> SimResponse {
        .json(status, .obj(("error", .string(reason))))
    }
}
