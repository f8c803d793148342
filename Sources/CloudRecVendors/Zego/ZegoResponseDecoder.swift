import CloudRecCore

/// Reads ZEGO's `{Code, Message, RequestId, Data}` envelope.
public enum ZegoResponseDecoder {
    public static func interpret(_ response: InboundResponse) -> PollResult {
        guard let json = try? JSONValue.parse(response.body), json.isObject else {
            if response.status >= 500 { return .failure(.serverError, code: String(response.status), message: "HTTP \(response.status)") }
            return HTTPStatusClass.decodeError("body is not a JSON object", status: response.status)
        }
        guard let code = json["Code"]?.intValue else {
            if response.status >= 300 {
                return .failure(HTTPStatusClass.outcome(forStatus: response.status), code: String(response.status),
                                message: "HTTP \(response.status)")
            }
            return HTTPStatusClass.decodeError("Code missing", status: response.status)
        }
        let message = json["Message"]?.stringValue
        if code != 0 {
            return .failure(ZegoErrorCodes.outcome(for: code), code: String(code), message: message,
                            retryAfter: response.retryAfterSeconds)
        }
        guard let data = json["Data"], data.isObject, let status = data["Status"]?.intValue else {
            return HTTPStatusClass.decodeError("Data.Status missing", status: response.status)
        }
        let files = (data["RecordFiles"]?.arrayValue ?? []).map(decodeFile)
        return .success(TaskObservation(
            vendorStatus: String(status),
            status: ZegoStatusMapping.taskStatus(status),
            files: files,
            reportsUploadStates: true,
            startTime: data["RecordBeginTimestamp"]?.doubleValue.flatMap { $0 > 0 ? $0 / 1000 : nil },
            endTime: data["RecordEndTimestamp"]?.doubleValue.flatMap { $0 > 0 ? $0 / 1000 : nil }))
    }

    static func decodeFile(_ file: JSONValue) -> RecordingFile {
        let name = file["FileId"]?.stringValue ?? file["FileUrl"]?.stringValue ?? ""
        let format = file["OutputFileFormat"]?.stringValue.map(FileFormat.init(vendorValue:)) ?? FileFormat(vendorValue: name)
        return RecordingFile(
            name: name,
            format: format,
            uploadState: file["Status"]?.intValue.flatMap(ZegoStatusMapping.uploadState),
            sizeBytes: file["FileSize"]?.int64Value,
            durationSeconds: file["Duration"]?.doubleValue.map { $0 / 1000 },
            startTime: file["BeginTimestamp"]?.doubleValue.flatMap { $0 > 0 ? $0 / 1000 : nil })
    }
}

/// ZEGO return codes and what they mean for polling.
public enum ZegoErrorCodes {
    public static let throttled = 300000003
    public static let taskNotFound = 300001000
    public static let taskStopped = 300001001
    public static let signatureExpired = 100000004
    public static let signatureInvalid = 100000005

    public static func outcome(for code: Int) -> PollOutcome {
        switch code {
        case throttled, 7, 206: return .throttled
        case taskNotFound, taskStopped: return .notFound
        case signatureExpired, signatureInvalid, 100000009, 100000010, 100000001, 300000002: return .authError
        case 300010000, 100000015: return .serverError
        default: return .clientError
        }
    }
}
