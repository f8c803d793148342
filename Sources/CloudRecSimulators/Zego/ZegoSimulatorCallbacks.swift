import CloudRecCore
import CloudRecVendors
import Foundation

/// ZEGO recording status callbacks: none on start (ZEGO documents none), 5 on a normal exit, 2 (`quit_reason` 6,
/// network lost) on an abnormal one, and 1 (upload finished) with `file_info` for the files done uploading.
extension ZegoSimulator: CallbackSimulating {
    public func callbackRequests(_ event: SimCallbackEvent, taskID: String, secret: String) -> [SimCallbackRequest] {
        guard let task = book.task(taskID) else { return [] }
        let now = book.clock.now()
        switch event {
        case .started:
            return []
        case .exited:
            guard task.phase.hasEnded else { return [] }
            if task.phase == .exitedAbnormally {
                return [callback(2, task: task, detail: .obj(("quit_reason", 6)), now: now, secret: secret)]
            }
            return [callback(5, task: task, detail: .object([]), now: now, secret: secret)]
        case .uploads:
            let done = task.files.filter { [.uploaded, .backupUploaded, .failed].contains($0.uploadState) }
            guard !done.isEmpty else { return [] }
            var info = ZegoSimulator.statusData(SimTask(id: task.id, files: done, startTime: task.startTime))["RecordFiles"]?
                .arrayValue ?? []
            info = info.map { file in
                guard case let .object(pairs) = file else { return file }
                return .object(pairs.map { (Self.snakeCase($0.0), $0.1) })
            }
            let allUploaded = done.allSatisfy { $0.uploadState == .uploaded }
            return [callback(1, task: task, detail: .obj(("upload_status", allUploaded ? 1 : 2), ("file_info", .array(info))),
                             now: now, secret: secret)]
        }
    }

    func callback(_ eventType: Int, task: SimTask, detail: JSONValue, now: Double, secret: String) -> SimCallbackRequest {
        let timestamp = String(Int64(now))
        let nonce = String(UInt32.random(in: 100_000...UInt32.max))
        let body = JSONValue.obj(
            ("app_id", .number(Double(appID) ?? 0)), ("task_id", .string(task.id)),
            ("room_id", .string(task.fields["room_id"] ?? "room-\(task.id.prefix(6))")), ("event_type", .number(Double(eventType))),
            ("message", ""), ("nonce", .string(nonce)), ("timestamp", .string(timestamp)),
            ("signature", .string(ZegoCallback.signature(secret: secret, timestamp: timestamp, nonce: nonce))),
            ("sequence", .number(Double(SimCallbackSequence.take()))), ("detail", detail)).bytes
        return SimCallbackRequest(headers: ["Content-Type": "application/json"], body: body)
    }

    /// `FileId` → `file_id`, `ResolutionWidth` → `resolution_width`.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for (index, character) in name.enumerated() {
            if character.isUppercase, index > 0 { out += "_" }
            out += character.lowercased()
        }
        return out
    }
}
