import CloudRecCore
import CloudRecVendors
import Foundation

/// ZEGOCLOUD `DescribeRecordStatus`: signature v2.0 checked (MD5, ±10 min clock window), 10 requests/s
/// (Code 300000003 above it, HTTP 200), Code 300001000 for unknown tasks and for tasks started more than three days
/// ago; ended tasks stay queryable with Status 3 or 4.
public struct ZegoSimulator: VendorSimulator {
    public let vendor = Vendor.zego
    public let book: SimTaskBook
    public let stats = SimStats()
    public let faults = FaultInjector()
    public let limiter: SimRateLimiter
    public let appID: String
    public let serverSecret: String

    public static let maxClockSkewSeconds: Double = 600
    public static let queryableSeconds: Double = 3 * 86400

    public init(book: SimTaskBook, appID: String, serverSecret: String, qps: Int = 10) {
        self.book = book
        self.appID = appID
        self.serverSecret = serverSecret
        self.limiter = SimRateLimiter(limit: qps)
    }

    private func envelope(_ code: Int, _ message: String, data: JSONValue? = nil) -> SimResponse {
        .json(200, .obj(("Code", .number(Double(code))), ("Message", .string(message)),
                        ("RequestId", .string(String(UInt64.random(in: 1 ... .max), radix: 16))), ("Data", data)))
    }

    public func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse {
        guard request.path == "/" || request.path.isEmpty else {
            stats.record(.badRequest)
            return SimResponse(status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found".utf8))
        }
        guard let action = request.queryValue("Action"), !action.isEmpty else { return reject(100000006, "action empty") }
        guard let requestAppID = request.queryValue("AppId"), UInt32(requestAppID) != nil else {
            return reject(100000001, "appid format error")
        }
        guard let nonce = request.queryValue("SignatureNonce"), !nonce.isEmpty else { return reject(100000008, "nonce empty") }
        guard let timestampText = request.queryValue("Timestamp"), !timestampText.isEmpty else {
            return reject(100000002, "timestamp empty")
        }
        guard let timestamp = Int64(timestampText) else { return reject(100000003, "timestamp format error") }
        guard let signature = request.queryValue("Signature"), !signature.isEmpty else { return reject(100000009, "signature empty") }
        guard request.queryValue("SignatureVersion") == "2.0" else { return reject(100000014, "signature version unsupported") }
        guard requestAppID == appID else { return reject(100000010, "get server secret failed") }
        let now = book.clock.now()
        guard abs(conditions.authTime(now) - Double(timestamp)) <= Self.maxClockSkewSeconds else {
            stats.record(.authRejected)
            return envelope(100000004, "signature expired")
        }
        guard signature == ZegoSigner.signature(appID: appID, nonce: nonce, serverSecret: serverSecret, timestamp: timestamp) else {
            stats.record(.authRejected)
            return envelope(100000005, "signature invalid")
        }
        guard conditions.admits(limiter, now: now) else {
            stats.record(.throttled)
            return envelope(300000003, "request too frequent")
        }
        switch action {
        case "DescribeRecordStatus": return describeRecordStatus(request, now: now)
        case "DescribeTasks": return describeTasks(request, now: now)
        default: return reject(100000007, "action unsupported")
        }
    }

    private func reject(_ code: Int, _ message: String) -> SimResponse {
        stats.record(code == 100000010 ? .authRejected : .badRequest)
        return envelope(code, message)
    }

    private func describeRecordStatus(_ request: SimRequest, now: Double) -> SimResponse {
        guard let body = try? JSONValue.parse(request.body), let taskID = body["TaskId"]?.stringValue, !taskID.isEmpty else {
            return reject(300000004, "param invalid: TaskId")
        }
        guard let task = book.task(taskID), now - task.startTime <= Self.queryableSeconds,
              task.hiddenUntil.map({ now >= $0 }) ?? true else {
            stats.record(.notFound)
            return envelope(300001000, "record task not exist")
        }
        stats.record(.answered)
        return envelope(0, "succeed", data: Self.statusData(task))
    }

    /// `DescribeTasks`: tasks by Status (2 recording, 3 ended) that started in [StartTime, EndTime] (ms, ≤ 3 days,
    /// no earlier than 3 days ago), pages of PageSize (1–50) counted from PageOffset 1.
    private func describeTasks(_ request: SimRequest, now: Double) -> SimResponse {
        guard let body = try? JSONValue.parse(request.body), let status = body["Status"]?.intValue, status == 2 || status == 3,
              let start = body["StartTime"]?.doubleValue, let end = body["EndTime"]?.doubleValue, end > start,
              end - start <= Self.queryableSeconds * 1000, start >= (now - Self.queryableSeconds) * 1000 - 60_000 else {
            return reject(300000004, "param invalid: Status, StartTime or EndTime")
        }
        let pageSize = min(50, max(1, body["PageSize"]?.intValue ?? 50))
        let page = min(1_000_000, max(1, body["PageOffset"]?.intValue ?? 1))  // bounded: (page - 1) * pageSize cannot overflow
        let matching = book.all.filter { task in
            let started = task.startTime * 1000
            let isRecording = !task.phase.hasEnded
            return started >= start && started <= end && (status == 2 ? isRecording : !isRecording)
        }
        let slice = matching.dropFirst((page - 1) * pageSize).prefix(pageSize)
        stats.record(.answered)
        return envelope(0, "succeed", data: .obj(
            ("PageOffset", .number(Double(page))), ("PageSize", .number(Double(pageSize))), ("TotalCount", .number(Double(matching.count))),
            ("TaskList", .array(slice.map { task in
                .obj(("TaskId", .string(task.id)), ("RoomId", .string(task.fields["room_id"] ?? "room-\(task.id.prefix(6))")),
                     ("Status", .number(Double(Self.statusCode(for: task.phase)))),
                     ("RecordBeginTimestamp", .number((task.startTime * 1000).rounded())))
            }))))
    }

    static func statusCode(for phase: SimPhase) -> Int {
        switch phase {
        case .starting: return 1
        case .recording, .stopping: return 2
        case .paused: return 5
        case .ended: return 3
        case .exitedAbnormally: return 4
        }
    }

    static func fileStatus(_ state: UploadState) -> Int {
        switch state {
        case .recording: return 1
        case .uploading: return 2
        case .uploaded: return 3
        case .backupUploaded: return 4
        case .failed: return 5
        }
    }

    /// The documented `OutputFileFormat` values are mp4, flv, hls, jpg and aac only: an audio-only file (mp3 in the
    /// vendor-neutral task book) is ZEGO's aac, anything else its default mp4.
    public static func outputFileFormat(_ format: FileFormat) -> String {
        switch format {
        case .mp4, .flv, .hls, .jpg, .aac: return format.rawValue
        case .mp3: return FileFormat.aac.rawValue
        case .other: return FileFormat.mp4.rawValue
        }
    }

    static func statusData(_ task: SimTask) -> JSONValue {
        let files: JSONValue? = task.files.isEmpty ? nil : .array(task.files.map { file in
            .obj(("UserId", "mix_out"), ("UserName", "mix_out"), ("StreamId", "mix_out"), ("FileId", .string(file.name)),
                 ("VideoId", ""), ("OutputFileFormat", .string(outputFileFormat(file.format))),
                 ("FileSize", .number(Double(file.sizeBytes))), ("Duration", .number((file.durationSeconds * 1000).rounded())),
                 ("ResolutionWidth", 1280), ("ResolutionHeight", 720), ("MediaTrackType", 3),
                 ("BeginTimestamp", .number((file.startTime * 1000).rounded())), ("CustomBeginTimestamp", 0),
                 ("Status", .number(Double(fileStatus(file.uploadState)))),
                 ("FileUrl", .string("https://storage.example/record/\(file.name)")))
        })
        return .obj(("RoomId", .string(task.fields["room_id"] ?? "room-\(task.id.prefix(6))")), ("RecordMode", 2), ("StreamType", 3),
                    ("RecordBeginTimestamp", .number((task.startTime * 1000).rounded())),
                    ("RecordEndTimestamp", .number(((task.endTime ?? 0) * 1000).rounded())),
                    ("Status", .number(Double(statusCode(for: task.phase)))), ("RecordFiles", files))
    }

    /// The seed document's example answer, used as the decoding baseline.
    public static let seedExampleBody = """
    {"Code":0,"Message":"succeed","RequestId":"abcd123","Data":{"RoomId":"xxxx","RecordMode":2,"StreamType":3,"RecordBeginTimestamp":1601221452099,"RecordEndTimestamp":1601221508795,"Status":3,"RecordFiles":[{"UserId":"my_out","UserName":"my_out","StreamId":"my_out","FileId":"X3CgNeE4I1qAAABN_xxxx_my_out_VA_20200927154419775.mp4","VideoId":"820e50e52e0a490caf44eec8aec527a7","OutputFileFormat":"mp4","FileSize":432643544,"Duration":33874,"ResolutionWidth":1920,"ResolutionHeight":1080,"MediaTrackType":3,"BeginTimestamp":1601221459830,"CustomBeginTimestamp":0,"Status":3,"FileUrl":"https://xxxx.com/record/X3CgNeE4I1qAAABN_xxxx_my_out_VA_20200927154419775.mp4"}]}}
    """
}
