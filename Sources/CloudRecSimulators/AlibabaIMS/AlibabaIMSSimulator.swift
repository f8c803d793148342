import CloudRecCore
import CloudRecVendors
import Foundation

/// IMS `GetLiveRecordJob` behind the shared Alibaba gateway (V3 or RPC v1 signatures, `Throttling.User` with HTTP 400).
///
/// IMS documents only `initial`, `started` and `paused`, and no stop operation. Rendering of the other phases is our
/// choice: `stopping` still reads `started` (the job has not left its last documented state), and an ended job is
/// gone, answered like an unknown one. The code for that is unconfirmed, so it is configurable; the default
/// `NotFound.Job` with HTTP 404 is read as not_found by the client, which ends a task that was seen before.
public struct AlibabaIMSSimulator: VendorSimulator {
    public let vendor = Vendor.alibabaIMS
    public let book: SimTaskBook
    public let stats: SimStats
    public let faults = FaultInjector()
    public let gateway: AlibabaSimGateway
    public let jobNotFound: AlibabaSimError
    public var limiter: SimRateLimiter { gateway.limiter }

    public static let defaultJobNotFound = AlibabaSimError(status: 404, code: "NotFound.Job",
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

    /// `ListLiveRecordJobs`: jobs created in [StartTime, EndTime] (≤ 30 days), newest first, `PageNo`/`PageSize`.
    func listLiveRecordJobs(_ call: AlibabaSimCall) -> SimResponse {
        guard let startText = call.parameters["StartTime"], let endText = call.parameters["EndTime"],
              let start = AlibabaTimestamp.parse(startText)?.timeIntervalSince1970,
              let end = AlibabaTimestamp.parse(endText)?.timeIntervalSince1970, end > start, end - start <= 30 * 86400 else {
            return gateway.reject(.badRequest, 400, "InvalidParameter", "StartTime and EndTime must span at most 30 days.")
        }
        let pageNo = max(1, Int(call.parameters["PageNo"] ?? "1") ?? 1)
        let pageSize = min(100, max(1, Int(call.parameters["PageSize"] ?? "10") ?? 10))
        let wantedStatus = call.parameters["Status"]
        let jobs = book.all
            .filter { $0.startTime >= start && $0.startTime <= end }
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
