import CloudRecCore
import Foundation

/// Splits an Alibaba Cloud RPC answer into its success payload or a classified failure. Errors share one envelope
/// across products: `{RequestId, HostId, Code, Message, Recommend}` with HTTP 4xx/5xx.
public enum AlibabaResponseReader {
    public enum Reading {
        /// The object under the operation's payload key (`TaskInfo`, `RecordJob`).
        case payload(JSONValue)
        case failure(PollResult)
    }

    public static func read(_ response: InboundResponse, payloadKey: String) -> Reading {
        let status = response.status
        guard let json = try? JSONValue.parse(response.body), json.isObject else {
            // A proxy's HTML 502 says more about the server than about our decoding.
            if status >= 500 { return .failure(.failure(.serverError, code: String(status), message: "HTTP \(status)")) }
            return .failure(HTTPStatusClass.decodeError("body is not a JSON object", status: status))
        }
        let isSuccessStatus = (200..<300).contains(status)
        // An error envelope can come with HTTP 200 too: a `Code` without the payload is an error whatever the status.
        if let code = json["Code"]?.stringValue, !code.isEmpty, !isSuccessStatus || json[payloadKey] == nil {
            return .failure(.failure(AlibabaErrorCodes.outcome(forCode: code, httpStatus: status), code: code,
                                     message: summary(json, status: status), retryAfter: response.retryAfterSeconds,
                                     taskGone: AlibabaErrorCodes.isTaskGone(code)))
        }
        guard isSuccessStatus else {
            // No envelope: the status is all we have. A bare 404 means a wrong endpoint or path, not an ended task.
            let outcome = HTTPStatusClass.outcome(forStatus: status)
            return .failure(.failure(outcome == .notFound ? .clientError : outcome, code: String(status),
                                     message: "HTTP \(status) without an error code", retryAfter: response.retryAfterSeconds))
        }
        // Status payloads are objects (`TaskInfo`, `RecordJob`); list payloads are arrays (`LiveRecordJobs`).
        guard let payload = json[payloadKey], payload.isObject || payload.arrayValue != nil else {
            return .failure(HTTPStatusClass.decodeError("\(payloadKey) missing", status: status))
        }
        return .payload(payload)
    }

    /// `HTTP 400: <Message> (RequestId …)`, short. On `SignatureDoesNotMatch` the gateway echoes its string to sign:
    /// no secret is in it, but it is long and names the AccessKeyId, so it is cut off.
    static func summary(_ envelope: JSONValue, status: Int) -> String {
        var message = envelope["Message"]?.stringValue ?? ""
        if let echo = message.range(of: "string to sign", options: .caseInsensitive) {
            message = String(message[..<echo.lowerBound])
        }
        message = String(message.trimmingCharacters(in: .whitespacesAndNewlines).prefix(160))
        let requestID = envelope["RequestId"]?.stringValue.map { " (RequestId \($0))" } ?? ""
        return "HTTP \(status): " + (message.isEmpty ? "no message" : message) + requestID
    }
}

/// Alibaba error codes and what they mean for polling. The decision keys on `Code`, not on the HTTP status:
/// the same code comes with different statuses across products (`Throttling.User` with 400, 403, 429 or 503).
public enum AlibabaErrorCodes {
    public static let taskNotFound = "NotFound.Task"
    /// Live, HTTP 400: "the task must be in the running or recovering state" (DescribeRtcCloudRecordingFiles error
    /// table), and the SDK model documents that only tasks created within the last 3 days can be queried. Whether a
    /// stopped task, an aged-out one or both answer it is unconfirmed; either way the task exists and will never be
    /// queryable again, so it reads as not found with `taskGone` (PollResult).
    public static let taskNotQueryable = "InvalidParameter.TaskId"
    public static let throttlingUser = "Throttling.User"
    public static let signatureDoesNotMatch = "SignatureDoesNotMatch"
    public static let accessKeyNotFound = "InvalidAccessKeyId.NotFound"
    public static let timestampExpired = "InvalidTimeStamp.Expired"
    public static let timestampFormat = "InvalidTimeStamp.Format"
    public static let nonceUsed = "SignatureNonceUsed"
    public static let incompleteSignature = "IncompleteSignature"
    public static let missingParameter = "MissingParameter"
    public static let apiNotFound = "InvalidApi.NotFound"

    private static let authCodes: Set<String> = [signatureDoesNotMatch, incompleteSignature, timestampExpired, nonceUsed,
                                                 "NoPermission"]
    private static let authPrefixes = ["InvalidAccessKeyId", "Forbidden"]
    private static let serverCodePrefixes = ["InternalError", "ServiceUnavailable"]

    public static func outcome(forCode code: String, httpStatus: Int) -> PollOutcome {
        if code == "Throttling" || code.hasPrefix("Throttling.") { return .throttled }
        if authCodes.contains(code) || authPrefixes.contains(where: { code.hasPrefix($0) }) { return .authError }
        if isTaskNotFound(code) || isTaskGone(code) { return .notFound }
        if serverCodePrefixes.contains(where: { code.hasPrefix($0) }) || httpStatus >= 500 { return .serverError }
        return .clientError
    }

    /// Codes that say the task exists but has left its queryable life for good (see `taskNotQueryable`).
    public static func isTaskGone(_ code: String) -> Bool { code == taskNotQueryable }

    /// `NotFound.Task`, and codes like it that say the task or job is gone (`InvalidJobId.NotFound`,
    /// `JobNotExist`). A missing API, region or access key is a different problem and must not end a task.
    public static func isTaskNotFound(_ code: String) -> Bool {
        let lower = code.lowercased()
        guard lower.contains("notfound") || lower.contains("notexist") else { return false }
        let bare: Set<String> = ["notfound", "notexist", "notexists", "resourcenotfound"]
        return bare.contains(lower) || ["task", "job", "record"].contains { lower.contains($0) }
    }
}
