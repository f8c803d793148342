import CloudRecCore

/// Reads TencentCloud API 3.0's `{"Response": {...}}` envelope. Business errors come back with HTTP 200 and
/// `Response.Error`, so the body decides the outcome, not the status line.
public enum TencentTRTCResponseDecoder {
    public static func interpret(_ response: InboundResponse) -> PollResult {
        guard let json = try? JSONValue.parse(response.body), json.isObject else {
            if response.status >= 500 {
                return .failure(.serverError, code: String(response.status), message: "HTTP \(response.status)")
            }
            return HTTPStatusClass.decodeError("body is not a JSON object", status: response.status)
        }
        guard let envelope = json["Response"], envelope.isObject else {
            if response.status >= 300 {
                return .failure(HTTPStatusClass.outcome(forStatus: response.status), code: String(response.status),
                                message: "HTTP \(response.status)")
            }
            return HTTPStatusClass.decodeError("Response missing", status: response.status)
        }
        let requestID = envelope["RequestId"]?.stringValue
        if let error = envelope["Error"], error.isObject {
            guard let code = error["Code"]?.stringValue, !code.isEmpty else {
                return HTTPStatusClass.decodeError("Response.Error.Code missing", status: response.status)
            }
            return .failure(TencentTRTCErrorCodes.outcome(for: code), code: code,
                            message: describe(error["Message"]?.stringValue, requestID: requestID),
                            retryAfter: response.retryAfterSeconds)
        }
        if response.status >= 300 {
            let outcome = HTTPStatusClass.outcome(forStatus: response.status)
            return .failure(outcome, code: String(response.status), message: "HTTP \(response.status)")
        }
        guard let status = envelope["Status"]?.stringValue else {
            return HTTPStatusClass.decodeError("Response.Status missing", status: response.status)
        }
        // StorageFileList may be null, absent or empty; all mean "nothing to show" (files uploading to VOD are hidden).
        let files = (envelope["StorageFileList"]?.arrayValue ?? []).compactMap(decodeFile)
        return .success(TaskObservation(
            vendorStatus: status,
            status: TencentTRTCStatusMapping.taskStatus(status),
            files: files,
            reportsUploadStates: false,
            startTime: files.compactMap(\.startTime).min()))
    }

    static func decodeFile(_ file: JSONValue) -> RecordingFile? {
        guard let name = file["FileName"]?.stringValue, !name.isEmpty else { return nil }
        return RecordingFile(name: name, format: FileFormat(vendorValue: name),
                             startTime: file["BeginTimeStamp"]?.doubleValue.flatMap(unixSeconds))
    }

    /// `BeginTimeStamp` is most likely milliseconds (callback 307 uses ms; the query docs do not say), so both
    /// units are accepted: anything past year 5138 in seconds is read as milliseconds.
    static func unixSeconds(_ value: Double) -> Double? {
        guard value > 0 else { return nil }
        return value >= 1e11 ? value / 1000 : value
    }

    static func describe(_ message: String?, requestID: String?) -> String? {
        switch (message, requestID) {
        case let (message?, requestID?): return "\(message) (RequestId \(requestID))"
        case let (message?, nil): return message
        case let (nil, requestID?): return "RequestId \(requestID)"
        case (nil, nil): return nil
        }
    }
}
