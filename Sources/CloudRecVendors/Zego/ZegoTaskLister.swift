import CloudRecCore
import Foundation

/// ZEGO `DescribeTasks`: tasks of the AppId by status (2 recording now, 3 ended) whose recording started in a window of
/// at most three days, 50 per page (`PageOffset` counts pages from 1). The reply's list key is `TaskList` in the field
/// table and `TaskidList` in the example; both are read.
public struct ZegoTaskLister: TaskLister {
    public let account: AccountSpec
    public var listAPIName: String { "DescribeTasks" }
    public static let pageSize = 50
    public static let maxWindow: TimeInterval = 3 * 86400

    public init(account: AccountSpec) { self.account = account }

    /// Every recording running now (window: the last three days), and those that ended since the last round.
    public func queries(now: Date, since: Date) -> [ListQuery] {
        let earliest = now.addingTimeInterval(-Self.maxWindow + 60)
        return [ListQuery(status: "2", start: earliest, end: now),
                ListQuery(status: "3", start: max(earliest, since.addingTimeInterval(-3600)), end: now)]
    }

    public func listRequest(_ query: ListQuery, page: Int, context: RequestContext) throws -> OutboundRequest {
        guard let appID = account.fields["app_id"] else { throw VendorRequestError("account \(account.name): app_id missing") }
        let common = ZegoSigner.commonQuery(action: listAPIName, appID: appID, serverSecret: account.credential("server_secret").reveal(),
                                            nonceBits: context.nonce, timestamp: Int64(context.now.timeIntervalSince1970))
        let body = JSONValue.obj(
            ("Status", .number(Double(query.status ?? "2") ?? 2)), ("PageOffset", .number(Double(page))),
            ("PageSize", .number(Double(Self.pageSize))),
            ("StartTime", .number((query.start.timeIntervalSince1970 * 1000).rounded())),
            ("EndTime", .number((query.end.timeIntervalSince1970 * 1000).rounded())))
        return OutboundRequest(method: "POST", url: account.endpoint.trimmingTrailingSlash + "/?" + common,
                               headers: [HeaderField("Content-Type", "application/json")], body: body.bytes)
    }

    public func interpretList(_ response: InboundResponse, query: ListQuery, page: Int) -> ListPage {
        guard let json = try? JSONValue.parse(response.body), json.isObject, let code = json["Code"]?.intValue else {
            let result = response.status >= 500
                ? PollResult.failure(.serverError, code: String(response.status), message: "HTTP \(response.status)")
                : HTTPStatusClass.decodeError("not a ZEGO envelope", status: response.status)
            return ListPage(result: result)
        }
        guard code == 0 else {
            return ListPage(result: .failure(ZegoErrorCodes.outcome(for: code), code: String(code), message: json["Message"]?.stringValue))
        }
        guard let data = json["Data"], data.isObject else { return ListPage(result: HTTPStatusClass.decodeError("Data missing", status: response.status)) }
        let items = data["TaskList"]?.arrayValue ?? data["TaskidList"]?.arrayValue ?? []
        let tasks = items.compactMap { item -> DiscoveredTask? in
            guard let id = item["TaskId"]?.stringValue, !id.isEmpty else { return nil }
            return DiscoveredTask(id: id)
        }
        let total = data["TotalCount"]?.intValue ?? 0
        let next = page * Self.pageSize < total && !items.isEmpty ? page + 1 : nil
        return ListPage(result: PollResult(outcome: .success), tasks: tasks, nextPage: next)
    }
}
