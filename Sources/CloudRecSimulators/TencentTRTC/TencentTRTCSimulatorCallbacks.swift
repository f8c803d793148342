import CloudRecCore
import CloudRecVendors
import Foundation

/// TRTC recording callbacks: 301 on start, 302 on exit (`LeaveCode` 0, or 100 for an abnormal end), and per file
/// done uploading a 311 VOD commit (`Status` 0 uploaded / 1 stuck on backup / 2 VOD error) followed by 312.
extension TencentTRTCSimulator: CallbackSimulating {
    public func callbackRequests(_ event: SimCallbackEvent, taskID: String, secret: String) -> [SimCallbackRequest] {
        guard let task = book.task(taskID) else { return [] }
        let now = book.clock.now()
        switch event {
        case .started:
            return [request(301, task: task, payload: .obj(("Status", 0)), now: now, secret: secret)]
        case .exited:
            guard task.phase.hasEnded else { return [] }
            let code = task.phase == .exitedAbnormally ? 100 : 0
            return [request(302, task: task, payload: .obj(("LeaveCode", .number(Double(code)))), now: now, secret: secret)]
        case .uploads:
            let done = task.files.filter { [.uploaded, .backupUploaded, .failed].contains($0.uploadState) }
            guard !done.isEmpty else { return [] }
            var requests = done.map { file -> SimCallbackRequest in
                let status = file.uploadState == .uploaded ? 0 : (file.uploadState == .backupUploaded ? 1 : 2)
                let vod = JSONValue.obj(
                    ("UserId", .string(task.fields["user_id"] ?? "")), ("TrackType", "audio_video"), ("MediaId", "mix"),
                    ("FileId", .string("vod-\(file.name)")), ("VideoUrl", .string("https://vod.example/\(file.name)")),
                    ("CacheFile", .string(file.name)), ("StartTimeStamp", .number((file.startTime * 1000).rounded())),
                    ("EndTimeStamp", .number(((file.startTime + file.durationSeconds) * 1000).rounded())))
                return request(311, task: task, payload: .obj(("Status", .number(Double(status))), ("TencentVod", vod),
                                                               ("Errmsg", status == 2 ? "vod commit failed" : "")),
                               now: now, secret: secret)
            }
            let failed = done.contains { $0.uploadState == .failed }
            requests.append(request(312, task: task, payload: .obj(("Status", failed ? 1 : 0)), now: now, secret: secret))
            return requests
        }
    }

    /// Any bytes, signed as TRTC signs a callback body (tests: malformed but authentic bodies).
    public func signedCallback(body: [UInt8], secret: String) -> SimCallbackRequest {
        SimCallbackRequest(headers: ["Content-Type": "application/json", "Sign": TencentTRTCCallback.sign(body: body, key: secret),
                                     "SdkAppId": sdkAppID], body: body)
    }

    func request(_ eventType: Int, task: SimTask, payload: JSONValue, now: Double, secret: String) -> SimCallbackRequest {
        let ms = (now * 1000).rounded()
        let body = JSONValue.obj(
            ("EventGroupId", 3), ("EventType", .number(Double(eventType))), ("CallbackTs", .number(ms)),
            ("EventInfo", .obj(("RoomId", .string(task.fields["room_id"] ?? "room-\(task.id.prefix(6))")),
                               ("EventTs", .number(now.rounded(.down))), ("EventMsTs", .number(ms)),
                               ("UserId", .string("recorder_\(task.id.prefix(8))")), ("TaskId", .string(task.id)),
                               ("Payload", payload)))).bytes
        return SimCallbackRequest(headers: ["Content-Type": "application/json",
                                            "Sign": TencentTRTCCallback.sign(body: body, key: secret),
                                            "SdkAppId": task.fields["sdk_app_id"] ?? sdkAppID], body: body)
    }
}
