import CloudRecCore
import CloudRecVendors
import Foundation

/// ApsaraVideo Live RTC recording callbacks: `TaskRunning` on start, `TaskStopped` on any end (Live documents no
/// abnormal-exit event), and one `RecordFileUploaded` per uploaded file, its payload a JSON string naming the file.
/// Failed or backup-only files get no callback: Live documents none for them.
extension AlibabaLiveSimulator: CallbackSimulating {
    public func callbackRequests(_ event: SimCallbackEvent, taskID: String, secret: String) -> [SimCallbackRequest] {
        guard let task = book.task(taskID) else { return [] }
        let now = book.clock.now()
        switch event {
        case .started:
            return [callback("TaskRunning", task: task, payload: .object([]), now: now, secret: secret)]
        case .exited:
            guard task.phase.hasEnded else { return [] }
            return [callback("TaskStopped", task: task, payload: .object([]), now: now, secret: secret)]
        case .uploads:
            return task.files.filter { $0.uploadState == .uploaded }.map { file in
                callback("RecordFileUploaded", task: task,
                         payload: .obj(("fileName", .string("\(task.id)/\(file.name)")), ("format", .string(file.format.rawValue))),
                         now: now, secret: secret)
            }
        }
    }

    func callback(_ eventType: String, task: SimTask, payload: JSONValue, now: Double, secret: String) -> SimCallbackRequest {
        let timestamp = String(Int64(now))
        let body = JSONValue.obj(
            ("appId", .string(task.fields["app_id"] ?? "demo-app")), ("channelId", .string(task.fields["channel_id"] ?? "channel-\(task.id.prefix(6))")),
            ("taskId", .string(task.id)), ("eventType", .string(eventType)), ("callbackTs", .number((now * 1000).rounded())),
            ("payload", .string(payload.serialized()))).bytes
        return SimCallbackRequest(headers: ["Content-Type": "application/json",
                                            AlibabaLiveCallback.timestampHeader: timestamp,
                                            AlibabaLiveCallback.signatureHeader: AlibabaLiveCallback.signature(timestamp: timestamp, key: secret)],
                                  body: body)
    }
}
