import CloudRecCore

/// Reads `{RecordJob: {JobId, Status, CreateTime, RecordOutput, …}, RequestId}`. The job lists no files: they come
/// from `ListLiveRecordFiles`, which this status poll does not call, so observations carry no files.
public enum AlibabaIMSResponseDecoder {
    public static func interpret(_ response: InboundResponse) -> PollResult {
        switch AlibabaResponseReader.read(response, payloadKey: "RecordJob") {
        case let .failure(result): return result
        case let .payload(job): return decodeRecordJob(job, status: response.status)
        }
    }

    static func decodeRecordJob(_ job: JSONValue, status httpStatus: Int) -> PollResult {
        guard let status = job["Status"]?.stringValue, !status.isEmpty else {
            return HTTPStatusClass.decodeError("RecordJob.Status missing", status: httpStatus)
        }
        let created = job["CreateTime"]?.stringValue.flatMap(parseCreateTime)
        return .success(TaskObservation(vendorStatus: status, status: AlibabaIMSStatusMapping.taskStatus(status),
                                        files: [], reportsUploadStates: false, startTime: created))
    }

    /// UTC; the example has seconds, the SDK docstring says `yyyy-MM-ddTHH:mmZ`, so both are read.
    static func parseCreateTime(_ text: String) -> Double? {
        if let date = AlibabaTimestamp.parse(text) { return date.timeIntervalSince1970 }
        guard text.hasSuffix("Z") else { return nil }
        return AlibabaTimestamp.parse(String(text.dropLast()) + ":00Z")?.timeIntervalSince1970
    }
}
