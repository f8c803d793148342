import CloudRecCore
import Foundation
import Hummingbird
import NIOCore

/// What the registration API needs from the running exporter: a narrow port in Core types. The exporter validates
/// fields and labels (against the vendor's schema and the label allow-list); this layer only reads HTTP and JSON.
public protocol TaskRegistry: Sendable {
    /// nil when no token is configured: the API is off.
    var apiAccess: APIAccess? { get }
    func hasAccount(_ name: String) -> Bool
    /// Validates and tracks; durable when it returns. Returns whether the task is new and its current state.
    func register(_ key: TaskKey, fields: [String: String], labels: [String: String]) async throws(RegistryError) -> (isNew: Bool, task: TaskView)
    /// Stops tracking a task registered through the API. Returns false when the API had not registered it.
    func unregister(_ key: TaskKey) async throws(RegistryError) -> Bool
    func tasks() -> [TaskView]
    func task(_ key: TaskKey) -> TaskView?
}

/// `/api/v1/tasks`: register, list, read and forget recording tasks. Bearer-token auth; every bad request gets a
/// 4xx with a JSON reason. The OpenAPI document is `api/openapi.yaml`.
public enum TaskAPI {
    public static func register(on router: Router<BasicRequestContext>, registry: any TaskRegistry) {
        let group = router.group("/api/v1")
        group.get("/tasks") { request, _ in
            await guarded(request, registry) { _ in list(request: request, registry: registry) }
        }
        group.get("/tasks/:account/:task_id") { request, context in
            await guarded(request, registry) { _ in
                let key = try taskKey(context)
                guard let task = registry.task(key) else { throw APIError(.notFound, "task \(key) is not tracked") }
                return json(.ok, view(task))
            }
        }
        group.put("/tasks/:account/:task_id") { request, context in
            await guarded(request, registry) { api in
                let key = try taskKey(context)
                guard registry.hasAccount(key.account) else {
                    throw APIError(.notFound, "no account named \"\(ExternalText.excerpt(key.account))\"")
                }
                var request = request
                let body = try await readBody(&request, limit: api.maxBodyBytes)
                let (fields, labels) = try parseRegistration(body)
                let (isNew, task) = try await registry.register(key, fields: fields, labels: labels)
                return json(isNew ? .created : .ok, view(task))
            }
        }
        group.delete("/tasks/:account/:task_id") { request, context in
            await guarded(request, registry) { _ in
                let key = try taskKey(context)
                guard try await registry.unregister(key) else { throw APIError(.notFound, "task \(key) was not registered through the API") }
                return Response(status: .noContent)
            }
        }
    }

    // MARK: Auth and errors

    struct APIError: Error {
        var status: HTTPResponse.Status
        var reason: String
        init(_ status: HTTPResponse.Status, _ reason: String) {
            self.status = status
            self.reason = reason
        }
    }

    /// Checks the API is on and the bearer token matches, runs the handler, and turns every failure into JSON.
    static func guarded(_ request: Request, _ registry: any TaskRegistry,
                        _ handler: (APIAccess) async throws -> Response) async -> Response {
        guard let api = registry.apiAccess else {
            return json(.notFound, .obj(("error", "the task API is off: set api.token in the configuration")))
        }
        guard let header = request.headers[.authorization], let token = bearerToken(header),
              constantTimeEqual(Array(token.utf8), Array(api.token.reveal().utf8)) else {
            var response = json(.unauthorized, .obj(("error", "missing or wrong bearer token")))
            response.headers[.wwwAuthenticate] = "Bearer realm=\"cloudrec_exporter\""
            return response
        }
        do {
            return try await handler(api)
        } catch let error as APIError {
            return json(error.status, .obj(("error", .string(error.reason))))
        } catch let error as RegistryError {
            switch error {
            case let .notFound(reason): return json(.notFound, .obj(("error", .string(reason))))
            case let .invalid(reason): return json(.badRequest, .obj(("error", .string(reason))))
            // 421 Misdirected Request: send it to the replica that owns the task (or to all replicas).
            case let .misdirected(reason): return json(.init(code: 421, reasonPhrase: "Misdirected Request"), .obj(("error", .string(reason))))
            // The durable store refused the write (full disk, read-only directory): nothing was acknowledged.
            case let .unavailable(reason): return json(.serviceUnavailable, .obj(("error", .string("task not stored: \(reason)"))))
            }
        } catch {
            return json(.internalServerError, .obj(("error", .string("\(error)"))))
        }
    }

    /// The credentials of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235).
    static func bearerToken(_ header: String) -> Substring? {
        guard let space = header.firstIndex(of: " "), header[..<space].lowercased() == "bearer" else { return nil }
        let token = header[header.index(after: space)...].drop { $0 == " " }
        return token.isEmpty ? nil : token
    }

    /// Compares without an early exit, so response time does not reveal how much of a guess was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    static func taskKey(_ context: BasicRequestContext) throws -> TaskKey {
        guard let account = context.parameters.get("account")?.removingPercentEncoding,
              let taskID = context.parameters.get("task_id")?.removingPercentEncoding else {
            throw APIError(.badRequest, "account and task id are required in the path")
        }
        // Account names are letters, digits, '-', '_' and '.' (the config enforces it); anything else names no
        // account, and is not echoed whole.
        guard ExternalText.isAccountName(account) else {
            throw APIError(.notFound, "no account named \"\(ExternalText.excerpt(account))\"")
        }
        guard ExternalText.isPrintable(taskID, lengths: 1...256) else {
            throw APIError(.badRequest, "task id must be 1 to 256 printable characters")
        }
        return TaskKey(account: account, taskID: taskID)
    }

    static func readBody(_ request: inout Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "body larger than \(limit) bytes")
        }
        do {
            return Array(buffer: try await request.collectBody(upTo: limit))
        } catch {
            throw APIError(.contentTooLarge, "body larger than \(limit) bytes")
        }
    }

    // MARK: Registration

    /// Strict: a JSON object of string (or number) fields and an optional `labels` object of strings; which fields and
    /// labels are allowed is the registry's to say.
    static func parseRegistration(_ body: [UInt8]) throws -> (fields: [String: String], labels: [String: String]) {
        let json: JSONValue
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            json = .object([])
        } else {
            do { json = try JSONValue.parse(body) } catch { throw APIError(.badRequest, "body is not valid JSON") }
        }
        guard case let .object(pairs) = json else { throw APIError(.badRequest, "body must be a JSON object") }
        var fields: [String: String] = [:]
        var labels: [String: String] = [:]
        for (name, value) in pairs {
            if name == "labels" {
                guard case let .object(labelPairs) = value else { throw APIError(.badRequest, "labels must be an object of strings") }
                for (label, labelValue) in labelPairs {
                    guard case let .string(text) = labelValue else {
                        throw APIError(.badRequest, "label \"\(ExternalText.excerpt(label))\" must be a string")
                    }
                    labels[label] = text
                }
                continue
            }
            // Strings and numbers only (a boolean would otherwise pass as "true").
            var text: String?
            switch value {
            case .string, .number: text = value.stringValue
            default: text = nil
            }
            guard let text else { throw APIError(.badRequest, "\(ExternalText.excerpt(name)) must be a string or a number") }
            fields[name] = text
        }
        return (fields, labels)
    }

    // MARK: Listing

    static func list(request: Request, registry: any TaskRegistry) -> Response {
        let query = request.uri.queryParameters
        let account = query["account"].map(String.init)
        if let account, !ExternalText.isAccountName(account) {
            return json(.badRequest, .obj(("error", "account names use letters, digits, '-', '_' and '.' only")))
        }
        let vendor = query["vendor"].map(String.init)
        let status = query["status"].map(String.init)
        if let vendor, Vendor(rawValue: vendor) == nil {
            return json(.badRequest, .obj(("error", .string("unknown vendor \"\(vendor)\""))))
        }
        if let status, TaskStatus(rawValue: status) == nil {
            return json(.badRequest, .obj(("error", .string("unknown status \"\(status)\""))))
        }
        var pageSize = 100
        if let text = query["page_size"] {
            guard let size = Int(text), (1...1000).contains(size) else {
                return json(.badRequest, .obj(("error", "page_size must be a whole number from 1 to 1000")))
            }
            pageSize = size
        }
        var after: TaskKey?
        if let token = query["page_token"] {
            guard let decoded = Data(base64Encoded: String(token)).map({ String(decoding: $0, as: UTF8.self) }),
                  let separator = decoded.firstIndex(of: "\n") else {
                return json(.badRequest, .obj(("error", "page_token is not one this server issued")))
            }
            after = TaskKey(account: String(decoded[..<separator]), taskID: String(decoded[decoded.index(after: separator)...]))
        }
        let matching = registry.tasks()
            .filter { task in
                (account == nil || task.key.account == account) && (vendor == nil || task.vendor.rawValue == vendor)
                    && (status == nil || task.status.rawValue == status) && (after == nil || after! < task.key)
            }
            .sorted { $0.key < $1.key }
        let page = matching.prefix(pageSize)
        var next: JSONValue?
        if matching.count > pageSize, let last = page.last {
            next = .string(Data("\(last.key.account)\n\(last.key.taskID)".utf8).base64EncodedString())
        }
        return json(.ok, .obj(("tasks", .array(page.map(view))), ("next_page_token", next)))
    }

    // MARK: Views

    static func view(_ task: TaskView) -> JSONValue {
        let files: [JSONValue] = task.files.map { file in
            .obj(("name", .string(file.name)), ("format", .string(file.format.rawValue)),
                 ("upload_state", file.uploadState.map { .string($0.rawValue) }), ("size_bytes", file.sizeBytes.map { .number(Double($0)) }),
                 ("duration_seconds", file.durationSeconds.map(JSONValue.number)))
        }
        return .obj(
            ("account", .string(task.key.account)), ("task_id", .string(task.key.taskID)), ("vendor", .string(task.vendor.rawValue)),
            ("status", .string(task.status.rawValue)), ("vendor_status", .string(task.vendorStatus)),
            ("sources", .array(task.sources.sorted().map(JSONValue.string))),
            ("fields", .object(task.fields.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("labels", .object(task.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("files", .array(files)),
            ("last_success", task.lastSuccess.map(JSONValue.number)), ("ended_at", task.endedAt.map(JSONValue.number)),
            ("registered_at", .number(task.registeredAt)))
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        ExporterRouter.jsonResponse(status, value)
    }
}
