import CloudRecCore
import Foundation

/// IMS `ListLiveRecordJobs` (GET, RPC, same signing as GetLiveRecordJob): jobs created in a window of at most 30
/// days, `PageNo`/`PageSize`, newest first. Jobs in `initial`, `started` or `paused` are the ones worth tracking.
public struct AlibabaIMSLister: TaskLister {
    public let account: AccountSpec
    public static let operation = AlibabaRPCOperation(action: "ListLiveRecordJobs", version: "2020-11-09", method: "GET")
    /// The API page documents only the default, 10, and no maximum (its sibling ListLiveRecordFiles allows 5–30):
    /// ask for exactly the documented default rather than a size the vendor may refuse on every call.
    public static let pageSize = 10
    public static let maxWindow: TimeInterval = 30 * 86400
    public var listAPIName: String { Self.operation.action }

    public init(account: AccountSpec) { self.account = account }

    public func queries(now: Date, since: Date) -> [ListQuery] {
        [ListQuery(status: nil, start: now.addingTimeInterval(-Self.maxWindow + 60), end: now)]
    }

    public func listRequest(_ query: ListQuery, page: Int, context: RequestContext) throws -> OutboundRequest {
        var parameters: [(String, String)] = [
            ("StartTime", AlibabaTimestamp.format(query.start)), ("EndTime", AlibabaTimestamp.format(query.end)),
            ("PageNo", String(page)), ("PageSize", String(Self.pageSize)), ("SortBy", "desc"),
        ]
        if let status = query.status { parameters.append(("Status", status)) }
        return try AlibabaRPCRequest.signed(Self.operation, parameters: parameters, account: account, context: context)
    }

    public func interpretList(_ response: InboundResponse, query: ListQuery, page: Int) -> ListPage {
        switch AlibabaResponseReader.read(response, payloadKey: "LiveRecordJobs") {
        case let .failure(result):
            return ListPage(result: result)
        case let .payload(jobs):
            let items = jobs.arrayValue ?? []
            let tasks = items.compactMap { job -> DiscoveredTask? in
                guard let id = job["JobId"]?.stringValue, !id.isEmpty,
                      AlibabaIMSStatusMapping.taskStatus(job["Status"]?.stringValue ?? "") != .unknown else { return nil }
                return DiscoveredTask(id: id)
            }
            let total = (try? JSONValue.parse(response.body))?["TotalCount"]?.intValue ?? 0
            let next = page * Self.pageSize < total && !items.isEmpty ? page + 1 : nil
            return ListPage(result: PollResult(outcome: .success), tasks: tasks, nextPage: next)
        }
    }
}
