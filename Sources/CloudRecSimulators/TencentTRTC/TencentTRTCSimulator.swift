import CloudRecCore
import CloudRecVendors
import Foundation

/// Tencent Cloud TRTC `DescribeCloudRecording` as the API 3.0 gateway serves it: TC3-HMAC-SHA256 checked over
/// whatever `SignedHeaders` lists (at least `content-type;host`), ±5 min clock window, 20 requests/s, and every
/// error as HTTP 200 with `{"Response": {"Error": {...}, "RequestId": ...}}`. Tasks are queryable only while they
/// run: an unknown or ended task answers `endedErrorCode`. Files uploading to VOD are left out of `StorageFileList`.
public struct TencentTRTCSimulator: VendorSimulator {
    public let vendor = Vendor.tencentTRTC
    public let book: SimTaskBook
    public let stats = SimStats()
    public let faults = FaultInjector()
    public let limiter: SimRateLimiter
    public let sdkAppID: String
    public let secretID: String
    public let secretKey: String
    /// The code an ended or unknown task answers. TRTC does not document which; `FailedOperation.TaskNotExist`
    /// ("task does not exist or has ended") fits best, and tests can switch to the other candidates.
    public let endedErrorCode: String

    public static let maxClockSkewSeconds: Double = 300

    public init(book: SimTaskBook, sdkAppID: String, secretID: String, secretKey: String, qps: Int = 20,
                endedErrorCode: String = TencentTRTCErrorCodes.taskNotExist) {
        self.book = book
        self.sdkAppID = sdkAppID
        self.secretID = secretID
        self.secretKey = secretKey
        self.limiter = SimRateLimiter(limit: qps)
        self.endedErrorCode = endedErrorCode
    }

    public func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse {
        guard request.path == "/" || request.path.isEmpty else {
            stats.record(.badRequest)
            return SimResponse(status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found".utf8))
        }
        guard request.method == "POST" else {
            // The real gateway also takes GET with a form query; the exporter never sends one.
            return reject("InvalidParameter", "only POST with a JSON body is simulated", event: .badRequest)
        }
        let now = book.clock.now()
        if let authFailure = authenticate(request, now: conditions.authTime(now)) { return authFailure }
        guard conditions.admits(limiter, now: now) else {
            stats.record(.throttled)
            return error(TencentTRTCErrorCodes.requestLimitExceeded, "Your current request times exceeds the frequency "
                         + "limit `\(limiter.limit)` for a second. Please reduce the frequency of calls.")
        }
        guard request.header("x-tc-action") == TencentTRTCClient.action else {
            return reject(TencentTRTCErrorCodes.invalidAction, "The action requested does not exist.", event: .badRequest)
        }
        guard request.header("x-tc-version") == TencentTRTCClient.apiVersion else {
            return reject(TencentTRTCErrorCodes.invalidAction, "The action requested does not exist in this version.",
                          event: .badRequest)
        }
        guard let region = request.header("x-tc-region"), TencentTRTCClient.regions.contains(region) else {
            return reject("UnsupportedRegion", "The region is not supported by this API.", event: .badRequest)
        }
        return describeCloudRecording(request, now: now)
    }

    /// The gateway's checks, in its order: header shape, identity, time window, then the signature itself.
    private func authenticate(_ request: SimRequest, now: Double) -> SimResponse? {
        guard let header = request.header("authorization"), let authorization = TencentTC3Authorization(header: header) else {
            return reject("AuthFailure.InvalidAuthorization", "The Authorization header is not in the TC3 format.")
        }
        guard let timestampText = request.header("x-tc-timestamp"), let timestamp = Int64(timestampText) else {
            return reject("MissingParameter", "X-TC-Timestamp is missing or not an integer.", event: .badRequest)
        }
        guard authorization.secretID == secretID else {
            return reject(TencentTRTCErrorCodes.secretIdNotFound, "The SecretId is not found.")
        }
        guard abs(now - Double(timestamp)) <= Self.maxClockSkewSeconds else {
            return reject(TencentTRTCErrorCodes.signatureExpire,
                          "Signature expired. Timestamp is \(timestamp); server time is \(Int64(now)).")
        }
        let signedNames = Set(authorization.signedHeaders)
        guard signedNames.contains("content-type"), signedNames.contains("host"),
              authorization.service == TencentTRTCClient.service,
              authorization.date == TencentTC3Signer.utcDate(timestamp) else {
            return reject(TencentTRTCErrorCodes.signatureFailure, "The provided credentials could not be validated.")
        }
        var signedHeaders: [HeaderField] = []
        for name in authorization.signedHeaders where name != "host" {
            guard let value = request.header(name) else {
                return reject(TencentTRTCErrorCodes.signatureFailure, "A signed header is missing from the request.")
            }
            signedHeaders.append(HeaderField(name, value))
        }
        let expected = TencentTC3Signer.sign(TencentTC3Signer.Input(
            method: request.method, host: request.header("host") ?? "", headers: signedHeaders, payload: request.body,
            timestamp: timestamp, service: TencentTRTCClient.service, secretID: secretID, secretKey: secretKey))
        guard expected.signature == authorization.signature else {
            return reject(TencentTRTCErrorCodes.signatureFailure, "The provided credentials could not be validated. "
                          + "Please check your signature is correct.")
        }
        return nil
    }

    private func describeCloudRecording(_ request: SimRequest, now: Double) -> SimResponse {
        guard let body = try? JSONValue.parse(request.body), body.isObject else {
            return reject("InvalidParameter", "The request body is not a JSON object.", event: .badRequest)
        }
        guard let requestAppID = body["SdkAppId"] else {
            return reject("MissingParameter.SdkAppId", "SdkAppId is missing.", event: .badRequest)
        }
        guard let taskID = body["TaskId"]?.stringValue, !taskID.isEmpty else {
            return reject("MissingParameter.TaskId", "TaskId is missing.", event: .badRequest)
        }
        // SdkAppId is an Integer in the API: a quoted number is a type error at the real gateway too.
        guard case .number = requestAppID, let appID = requestAppID.stringValue, knownAppIDs.contains(appID) else {
            return reject(TencentTRTCErrorCodes.invalidSdkAppID, "SdkAppId is incorrect.", event: .badRequest)
        }
        guard let task = book.task(taskID), !task.phase.hasEnded, task.hiddenUntil.map({ now >= $0 }) ?? true,
              (task.fields["sdk_app_id"] ?? sdkAppID) == appID else {
            stats.record(.notFound)
            return error(endedErrorCode, "The task does not exist or has ended.")
        }
        stats.record(.answered)
        return .json(200, .obj(("Response", Self.describeBody(task, requestID: Self.requestID()))), contentType: Self.contentType)
    }

    private var knownAppIDs: Set<String> {
        Set([sdkAppID] + book.all.compactMap { $0.fields["sdk_app_id"] })
    }

    private func reject(_ code: String, _ message: String, event: SimStats.Event = .authRejected) -> SimResponse {
        stats.record(event)
        return error(code, message)
    }

    /// Exactly `application/json`, no charset: the official SDK looks for `Response.Error` only when the content type
    /// is exactly that or `text/plain` (tencentcloud/common/abstract_client.py `_check_error`, `_json_content`), and
    /// takes any status but 200 as `ServerNetworkError` (`_check_status`).
    public static let contentType = "application/json"

    /// Business errors are HTTP 200 with the error inside the body.
    private func error(_ code: String, _ message: String) -> SimResponse {
        .json(200, .obj(("Response", .obj(("Error", .obj(("Code", .string(code)), ("Message", .string(message)))),
                                          ("RequestId", .string(Self.requestID()))))), contentType: Self.contentType)
    }

    static func requestID() -> String { UUID().uuidString.lowercased() }

    static func vendorStatus(for task: SimTask) -> String {
        switch task.phase {
        case .starting: return "Idle"
        case .recording, .paused: return task.flags.contains("idle") ? "Idle" : "InProgress"
        case .stopping, .ended, .exitedAbnormally: return "Exited"
        }
    }

    static func describeBody(_ task: SimTask, requestID: String) -> JSONValue {
        // Files on their way to VOD are not listed (the API page says so); before any file exists the list is null.
        let visible = task.files.filter { $0.uploadState != .uploading }
        let fileList: JSONValue = task.phase == .starting && visible.isEmpty ? .null : .array(visible.map { file in
            .obj(("UserId", .string(task.fields["user_id"] ?? "")), ("FileName", .string(file.name)),
                 ("TrackType", "audio_video"), ("BeginTimeStamp", .number((file.startTime * 1000).rounded())))
        })
        return .obj(("TaskId", .string(task.id)), ("Status", .string(vendorStatus(for: task))),
                    ("StorageFileList", fileList), ("RequestId", .string(requestID)))
    }

    /// The seed document's example answer, used as the decoding baseline.
    public static let seedExampleBody = """
    {
        "Response": {
            "Status": "InProgress",
            "StorageFileList": [],
            "RequestId": "xx",
            "TaskId": "xx"
        }
    }
    """
}
