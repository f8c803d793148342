import CloudRecCore

/// Reads Agora's two error shapes (gateway `{message}`, service `{code, reason}`) and the query body.
public enum AgoraResponseDecoder {
    public static func interpret(_ response: InboundResponse, mode: String) -> PollResult {
        let json = try? JSONValue.parse(response.body)
        let serviceCode = json?["code"]?.intValue
        let message = json?["message"]?.stringValue ?? json?["reason"]?.stringValue

        switch response.status {
        case 200:
            guard let json, json.isObject else { return HTTPStatusClass.decodeError("body is not a JSON object", status: 200) }
            if let serviceCode, serviceCode != 0 { return serviceError(code: serviceCode, message: message) }
            return decodeQuery(json, mode: mode)
        case 404:
            // The gateway's "no Route matched" means our path or method is wrong: a client bug, not an ended task.
            if let message, message.lowercased().contains("no route matched") {
                return .failure(.clientError, code: "404", message: "no route matched (check app_id, mode and endpoint)")
            }
            return .failure(.notFound, code: serviceCode.map(String.init) ?? "404", message: "recording not found or ended")
        case 429:
            return .failure(.throttled, code: "429", message: message ?? "API rate limit exceeded",
                            retryAfter: response.retryAfterSeconds)
        default:
            if let serviceCode, serviceCode == 501 { return exiting() }
            let outcome = HTTPStatusClass.outcome(forStatus: response.status)
            let code = serviceCode.map(String.init) ?? String(response.status)
            return .failure(outcome == .success ? .clientError : outcome, code: code,
                            message: message.map { "HTTP \(response.status): \($0)" } ?? "HTTP \(response.status)")
        }
    }

    static func serviceError(code: Int, message: String?) -> PollResult {
        switch code {
        case 501: return exiting()
        case 404: return .failure(.notFound, code: "404", message: message)
        default: return .failure(.clientError, code: String(code), message: message)
        }
    }

    /// `code 501` right after stop: the recording service is exiting. Reported as a status, not an error.
    static func exiting() -> PollResult {
        .success(TaskObservation(vendorStatus: "exiting", status: .stopping))
    }

    static func decodeQuery(_ json: JSONValue, mode: String) -> PollResult {
        guard let server = json["serverResponse"], server.isObject else {
            return HTTPStatusClass.decodeError("serverResponse missing", status: 200)
        }
        guard let statusCode = server["status"]?.intValue else {
            return HTTPStatusClass.decodeError("serverResponse.status missing or not a number", status: 200)
        }
        var files: [RecordingFile] = []
        var paused = false
        switch server["fileList"] {
        case let .string(name)?:
            files.append(RecordingFile(name: name, format: FileFormat(vendorValue: name)))
        case let .array(items)?:
            for item in items {
                guard let name = item["fileName"]?.stringValue else { continue }
                files.append(RecordingFile(name: name, format: FileFormat(vendorValue: name),
                                           startTime: item["sliceStartTime"]?.doubleValue))
            }
        default: break
        }
        for service in server["extensionServiceState"]?.arrayValue ?? [] {
            guard service["serviceName"]?.stringValue == "web_recorder_service", let payload = service["payload"] else { continue }
            if payload["onhold"]?.boolValue == true { paused = true }
            for item in payload["fileList"]?.arrayValue ?? [] {
                guard let name = item["filename"]?.stringValue ?? item["fileName"]?.stringValue else { continue }
                files.append(RecordingFile(name: name, format: FileFormat(vendorValue: name),
                                           startTime: item["sliceStartTime"]?.doubleValue))
            }
        }
        // Top-level sliceStartTime is in milliseconds (individual mode); per-file values are seconds.
        let start = server["sliceStartTime"]?.doubleValue.map { $0 / 1000 } ?? files.compactMap(\.startTime).min()
        let status = AgoraStatusMapping.status(for: statusCode, paused: paused)
        return .success(TaskObservation(vendorStatus: String(statusCode), status: status, files: files,
                                        reportsUploadStates: false, startTime: start))
    }
}
