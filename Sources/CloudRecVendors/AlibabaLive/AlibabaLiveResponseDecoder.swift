import CloudRecCore

/// Reads `{RequestId, TaskInfo: {TaskId, Status, RecordFileList}}`. Every file list may be missing or empty.
public enum AlibabaLiveResponseDecoder {
    public static func interpret(_ response: InboundResponse) -> PollResult {
        switch AlibabaResponseReader.read(response, payloadKey: "TaskInfo") {
        case let .failure(result): return result
        case let .payload(taskInfo): return decodeTaskInfo(taskInfo, status: response.status)
        }
    }

    static func decodeTaskInfo(_ taskInfo: JSONValue, status httpStatus: Int) -> PollResult {
        guard let status = taskInfo["Status"]?.stringValue, !status.isEmpty else {
            return HTTPStatusClass.decodeError("TaskInfo.Status missing", status: httpStatus)
        }
        return .success(TaskObservation(vendorStatus: status, status: AlibabaLiveStatusMapping.taskStatus(status),
                                        files: decodeFiles(taskInfo["RecordFileList"]), reportsUploadStates: false))
    }

    /// The lists hold object names only; the format comes from the list, not from the name's extension.
    /// VOD recordings report one entry per subscribed stream; each media id generated while recording is a file.
    /// `MergedIds` (media merged from those after the end) are left out so the same recording is not counted twice.
    static func decodeFiles(_ list: JSONValue?) -> [RecordingFile] {
        guard let list, list.isObject else { return [] }
        let named: [(key: String, format: FileFormat)] = [("Mp4FileList", .mp4), ("HlsFileList", .hls), ("Mp3FileList", .mp3)]
        var files = named.flatMap { key, format in
            (list[key]?.arrayValue ?? []).compactMap(\.stringValue).map { RecordingFile(name: $0, format: format) }
        }
        for stream in list["VodMediaList"]?.arrayValue ?? [] {
            let streamName = stream["Stream"]?.stringValue
            for mediaID in (stream["MediaIds"]?.arrayValue ?? []).compactMap(\.stringValue) {
                files.append(RecordingFile(name: streamName.map { "\($0)/\(mediaID)" } ?? mediaID, format: .other))
            }
        }
        return files
    }
}
