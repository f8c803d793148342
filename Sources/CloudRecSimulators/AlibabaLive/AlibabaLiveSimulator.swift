import CloudRecCore
import CloudRecVendors
import Foundation

/// ApsaraVideo Live `DescribeRtcCloudRecordingFiles` behind the shared Alibaba gateway (V3 or RPC v1 signatures,
/// 50 requests/s with `Throttling.User`, HTTP 400). Unknown tasks get HTTP 400 `NotFound.Task`. Ended tasks stay
/// queryable as `STOPPED`, whether they ended normally or not: Live reports failures only in callbacks.
/// A task with field `storage: vod` reports its files as VOD media ids instead of object names.
///
/// Both readings of HTTP 400 `InvalidParameter.TaskId` ("the task must be in the running or recovering state"; the
/// SDK model: "only tasks created within the last 3 days can be queried"): a task created more than
/// `queryWindowSeconds` ago answers it, and so does an ended task with the flag `stoppedNotQueryableFlag`.
public struct AlibabaLiveSimulator: VendorSimulator {
    public let vendor = Vendor.alibabaLive
    public let book: SimTaskBook
    public let stats: SimStats
    public let faults = FaultInjector()
    public let gateway: AlibabaSimGateway
    public var limiter: SimRateLimiter { gateway.limiter }

    /// The task flag that renders a live task as `RECOVERING`.
    public static let recoveringFlag = "recovering"
    /// The task flag that makes an ended task answer `InvalidParameter.TaskId` instead of `STOPPED`.
    public static let stoppedNotQueryableFlag = "stopped_not_queryable"
    /// Tasks created longer ago than this answer `InvalidParameter.TaskId`.
    public static let queryWindowSeconds: Double = 3 * 86400

    public init(book: SimTaskBook, accessKeyID: String, accessKeySecret: String, qps: Int = 50) {
        let stats = SimStats()
        self.book = book
        self.stats = stats
        gateway = AlibabaSimGateway(hostID: "live.aliyuncs.com", product: "live", operations: [AlibabaLiveClient.operation],
                                    accessKeyID: accessKeyID, accessKeySecret: accessKeySecret, clock: book.clock,
                                    stats: stats, qps: qps)
    }

    public func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse {
        gateway.handle(request, conditions: conditions, answer)
    }

    /// The product's logic for a request the gateway admitted.
    func answer(_ call: AlibabaSimCall) -> SimResponse {
        guard let taskID = call.parameters["TaskId"], !taskID.isEmpty else {
            return gateway.reject(.badRequest, 400, AlibabaErrorCodes.missingParameter, "TaskId is mandatory for this action.")
        }
        guard let task = book.task(taskID), task.hiddenUntil.map({ call.now >= $0 }) ?? true else {
            return gateway.reject(.notFound, 400, AlibabaErrorCodes.taskNotFound, "\(taskID), please check the TaskId.")
        }
        if call.now - task.startTime > Self.queryWindowSeconds
            || (task.phase.hasEnded && task.flags.contains(Self.stoppedNotQueryableFlag)) {
            return gateway.reject(.notFound, 400, AlibabaErrorCodes.taskNotQueryable,
                                  "\(taskID), please check the TaskId. The specified task must be in the running or recovering state.")
        }
        return gateway.answer(.obj(("RequestId", .string(AlibabaSimGateway.requestID())), ("TaskInfo", Self.taskInfo(task))))
    }

    static func statusName(for task: SimTask) -> String {
        switch task.phase {
        case .starting, .recording, .paused: return task.flags.contains(recoveringFlag) ? "RECOVERING" : "RUNNING"
        case .stopping: return "STOPPING"
        case .ended, .exitedAbnormally: return "STOPPED"
        }
    }

    static func taskInfo(_ task: SimTask) -> JSONValue {
        let objectNames = { (format: FileFormat) -> JSONValue in
            .array(task.files.filter { $0.format == format }.map { JSONValue.string("\(task.id)/\($0.name)") })
        }
        let fileList: JSONValue
        if task.fields["storage"] == "vod" {
            // VOD merges the recorded media once the task has ended.
            let merged: [JSONValue] = task.phase.hasEnded && !task.files.isEmpty ? [.string("merged-\(task.id)")] : []
            fileList = .obj(("VodMediaList", .array([
                .obj(("Stream", "Mix"), ("MediaIds", .array(task.files.map { JSONValue.string($0.name) })), ("MergedIds", .array(merged))),
            ])))
        } else {
            fileList = .obj(("Mp3FileList", objectNames(.mp3)), ("Mp4FileList", objectNames(.mp4)),
                            ("HlsFileList", objectNames(.hls)))
        }
        return .obj(("TaskId", .string(task.id)), ("Status", .string(statusName(for: task))), ("RecordFileList", fileList))
    }

    /// The seed document's example answer (DescribeRtcCloudRecordingFiles API page), used as the decoding baseline.
    public static let seedExampleBody = """
    {"RequestId":"******58-5876-****-83CA-B56278******\\n","TaskInfo":{"TaskId":"******73-8501-****-8ac1-72295a******\\n","Status":"RUNNING","RecordFileList":{"Mp3FileList":["******73-8501-****-8ac1-72295a******/myappid_testroom_userA_2025-05-06-14:37:22.mp3"],"Mp4FileList":["******73-8501-****-8ac1-72295a******/myappid_testroom_userA_2025-05-06-14:37:22.mp4"],"HlsFileList":["******73-8501-****-8ac1-72295a******/myappid_testroom_userA_2025-05-06-14:37:22.m3u8"],"VodMediaList":[{"Stream":"Single::UserA::AV::C","MediaIds":["****bbd9f59c71ee80065017f0f8****"],"MergedIds":["****d2f9f59c71ee8006501790g7****"]}]}}}
    """
}
