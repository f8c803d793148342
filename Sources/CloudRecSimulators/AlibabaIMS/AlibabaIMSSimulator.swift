import CloudRecCore
import CloudRecVendors
import Foundation

/// IMS `GetLiveRecordJob` behind the shared Alibaba gateway (V3 or RPC v1 signatures, `Throttling.User` with HTTP 400).
///
/// IMS documents only `initial`, `started` and `paused`, and no stop operation. Rendering of the other phases is our
/// choice: `stopping` still reads `started` (the job has not left its last documented state), and an ended job is
/// gone, answered like an unknown one. GetLiveRecordJob documents no code for that; its sibling ICE job APIs document
/// HTTP 404 `JobNotFound`, the default here (configurable; the client reads it and `NotFound.Job` alike as not_found,
/// which ends a task that was seen before).
public struct AlibabaIMSSimulator: VendorSimulator {
    public let vendor = Vendor.alibabaIMS
    public let book: SimTaskBook
    public let stats: SimStats
    public let faults = FaultInjector()
    public let gateway: AlibabaSimGateway
    public let jobNotFound: AlibabaSimError
    public var limiter: SimRateLimiter { gateway.limiter }

    public static let defaultJobNotFound = AlibabaSimError(status: 404, code: "JobNotFound",
                                                           message: "The specified job does not exist.")

    /// 10/s mirrors the client's default: no QPS figure is published for GetLiveRecordJob.
    public init(book: SimTaskBook, accessKeyID: String, accessKeySecret: String, qps: Int = 10,
                region: String = "cn-shanghai", jobNotFound: AlibabaSimError = AlibabaIMSSimulator.defaultJobNotFound) {
        let stats = SimStats()
        self.book = book
        self.stats = stats
        self.jobNotFound = jobNotFound
        gateway = AlibabaSimGateway(hostID: "ice.\(region).aliyuncs.com", product: "ICE", operations: [AlibabaIMSClient.operation, AlibabaIMSLister.operation],
                                    accessKeyID: accessKeyID, accessKeySecret: accessKeySecret, clock: book.clock,
                                    stats: stats, qps: qps)
    }

    public func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse {
        gateway.handle(request, conditions: conditions, answer)
    }

    /// The product's logic for a request the gateway admitted.
    func answer(_ call: AlibabaSimCall) -> SimResponse {
        if call.action == AlibabaIMSLister.operation.action { return listLiveRecordJobs(call) }
        guard let jobID = call.parameters["JobId"], !jobID.isEmpty else {
            return gateway.reject(.badRequest, 400, AlibabaErrorCodes.missingParameter, "JobId is mandatory for this action.")
        }
        guard let task = book.task(jobID), task.hiddenUntil.map({ call.now >= $0 }) ?? true,
              let status = Self.jobStatus(for: task.phase) else {
            return gateway.reject(.notFound, jobNotFound)
        }
        return gateway.answer(.obj(("RecordJob", Self.recordJob(task, status: status)),
                                   ("RequestId", .string(AlibabaSimGateway.requestID()))))
    }

    /// `PageSize` the simulator accepts: the API page documents only the default (10) and no range; its sibling
    /// `ListLiveRecordFiles` documents 5–30. Only what both promise is served; anything else is refused, so a client
    /// relying on more fails here first.
    public static let pageSizes = 5 ... 10

    /// `ListLiveRecordJobs`: jobs created in [StartTime, EndTime] (both optional; ≤ 30 days when given), newest first,
    /// `PageNo`/`PageSize`.
    func listLiveRecordJobs(_ call: AlibabaSimCall) -> SimResponse {
        var window = -Double.infinity ... Double.infinity
        let startText = call.parameters["StartTime"], endText = call.parameters["EndTime"]
        if startText != nil || endText != nil {
            let start = startText.map { AlibabaTimestamp.parse($0)?.timeIntervalSince1970 }
            let end = endText.map { AlibabaTimestamp.parse($0)?.timeIntervalSince1970 }
            guard start != .some(nil), end != .some(nil) else {
                return gateway.reject(.badRequest, 400, "InvalidParameter", "StartTime and EndTime must be yyyy-MM-ddTHH:mm:ssZ.")
            }
            let lower = start.flatMap { $0 } ?? (end.flatMap { $0 }.map { $0 - 30 * 86400 } ?? -Double.infinity)
            let upper = end.flatMap { $0 } ?? call.now
            guard upper > lower, upper - lower <= 30 * 86400 else {
                return gateway.reject(.badRequest, 400, "InvalidParameter", "StartTime and EndTime must span at most 30 days.")
            }
            window = lower ... upper
        }
        guard let pageNo = Int(call.parameters["PageNo"] ?? "1"), (1 ... 100_000).contains(pageNo) else {
            return gateway.reject(.badRequest, 400, "InvalidParameter.PageNo", "PageNo must be a positive integer.")
        }
        guard let pageSize = Int(call.parameters["PageSize"] ?? "10"), Self.pageSizes.contains(pageSize) else {
            return gateway.reject(.badRequest, 400, "InvalidParameter.PageSize",
                                  "PageSize must be from \(Self.pageSizes.lowerBound) to \(Self.pageSizes.upperBound).")
        }
        let wantedStatus = call.parameters["Status"]
        let jobs = book.all
            .filter { window.contains($0.startTime) }
            .compactMap { task in Self.jobStatus(for: task.phase).map { (task, $0) } }
            .filter { wantedStatus == nil || $0.1 == wantedStatus }
            .sorted { $0.0.startTime > $1.0.startTime }
        let page = jobs.dropFirst((pageNo - 1) * pageSize).prefix(pageSize)
        return gateway.answer(.obj(("LiveRecordJobs", .array(page.map { Self.recordJob($0.0, status: $0.1) })),
                                   ("PageNo", .number(Double(pageNo))), ("PageSize", .number(Double(pageSize))), ("SortBy", "desc"),
                                   ("TotalCount", .number(Double(jobs.count))), ("RequestId", .string(AlibabaSimGateway.requestID()))))
    }

    /// nil: the job no longer exists.
    static func jobStatus(for phase: SimPhase) -> String? {
        switch phase {
        case .starting: return "initial"
        case .recording, .stopping: return "started"
        case .paused: return "paused"
        case .ended, .exitedAbnormally: return nil
        }
    }

    static func recordJob(_ task: SimTask, status: String) -> JSONValue {
        .obj(("NotifyUrl", "https://example.com/imsnotify"),
             ("CreateTime", .string(AlibabaTimestamp.format(Date(timeIntervalSince1970: task.startTime)))),
             ("StreamInput", .obj(("Type", "rtmp"), ("Url", .string("rtmp://example.com/app/\(task.id)")))),
             ("RecordOutput", .obj(("Type", "oss"), ("Bucket", "imsbucket1"), ("Endpoint", "oss-cn-shanghai.aliyuncs.com"))),
             ("TemplateId", "69e1f9fe-1e97-11ed-ba64-0c42a1b73d66"), ("TemplateName", "test template"),
             ("Name", .string(task.fields["name"] ?? "recording \(task.id)")), ("JobId", .string(task.id)),
             ("Status", .string(status)))
    }

    /// The seed document's example answer (GetLiveRecordJob API page), used as the decoding baseline.
    public static let seedExampleBody = """
    {"RecordJob":{"NotifyUrl":"https://example.com/imsnotify","CreateTime":"2022-07-20T02:48:58Z","StreamInput":{"Type":"rtmp","Url":"rtmp://example.com/app/stream"},"RecordOutput":{"Type":"oss","Bucket":"imsbucket1","Endpoint":"oss-cn-shanghai.aliyuncs.com"},"TemplateId":"69e1f9fe-1e97-11ed-ba64-0c42a1b73d66","TemplateName":"test template","Name":"Live event recording task 1","JobId":"ab0e3e76-1e9d-11ed-ba64-0c42a1b73d66","Status":"paused"},"RequestId":"B57A046C-CE33-5FBB-B57A-D2B89ACF6907"}
    """
}
