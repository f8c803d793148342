import CloudRecCore

/// TencentCloud API 3.0 error codes (`Response.Error.Code`, sent with HTTP 200) and what they mean for polling.
public enum TencentTRTCErrorCodes {
    public static let requestLimitExceeded = "RequestLimitExceeded"
    public static let signatureExpire = "AuthFailure.SignatureExpire"
    public static let signatureFailure = "AuthFailure.SignatureFailure"
    public static let secretIdNotFound = "AuthFailure.SecretIdNotFound"
    public static let invalidAction = "InvalidAction"
    public static let taskNotExist = "FailedOperation.TaskNotExist"
    public static let taskFinished = "FailedOperation.TaskFinished"
    public static let resourceNotFound = "ResourceNotFound"
    public static let invalidSdkAppID = "InvalidParameter.SdkAppId"

    /// Which code TRTC returns once a task has ended is not documented; these all mean "gone".
    public static let endedTaskCodes: Set<String> = [taskNotExist, taskFinished, resourceNotFound, "InvalidParameter.TaskId"]

    public static func outcome(for code: String) -> PollOutcome {
        if code == requestLimitExceeded || code.hasPrefix(requestLimitExceeded + ".")
            || code == "FailedOperation.RestrictedFrequency" {
            return .throttled
        }
        if endedTaskCodes.contains(code) || code.hasPrefix(resourceNotFound + ".") { return .notFound }
        if matches(code, family: "AuthFailure") || matches(code, family: "UnauthorizedOperation") { return .authError }
        if code == "FailedOperation.CRUnsupportMethod" { return .clientError }
        if matches(code, family: "InternalError") || matches(code, family: "ServiceUnavailable")
            || matches(code, family: "FailedOperation") || matches(code, family: "ResourceUnavailable") {
            return .serverError
        }
        // InvalidParameter*, MissingParameter*, InvalidAction, UnsupportedRegion and codes we do not know.
        return .clientError
    }

    /// `family` itself or one of its dotted sub-codes (`InternalError.CRInternalError`).
    static func matches(_ code: String, family: String) -> Bool {
        code == family || code.hasPrefix(family + ".")
    }
}
