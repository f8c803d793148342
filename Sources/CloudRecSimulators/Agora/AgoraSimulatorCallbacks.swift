import CloudRecCore
import CloudRecVendors
import Foundation

/// Agora NCS notices: 40 recorder_started, 11 session_exit (`leaveStatus` 0/1), and for uploads 1 (uploader error 47)
/// when a file failed, else 32 backuped when one went to the backup, else 31 uploaded. Signed with both headers.
extension AgoraSimulator: CallbackSimulating {
    public func callbackRequests(_ event: SimCallbackEvent, taskID: String, secret: String) -> [SimCallbackRequest] {
        guard let task = book.task(taskID) else { return [] }
        let now = book.clock.now()
        switch event {
        case .started:
            return [notice(40, task: task, details: .obj(("msgName", "recorder_started"), ("status", 0)), serviceType: 1,
                           now: now, secret: secret)]
        case .exited:
            guard task.phase.hasEnded else { return [] }
            let status = task.phase == .exitedAbnormally ? 1 : 0
            return [notice(11, task: task, details: .obj(("msgName", "session_exit"), ("leaveStatus", .number(Double(status)))),
                           serviceType: 0, now: now, secret: secret)]
        case .uploads:
            let states = task.files.map(\.uploadState)
            if states.contains(.failed) {
                return [notice(1, task: task, details: .obj(("msgName", "cloud_recording_error"), ("module", 1), ("errorLevel", 3),
                                                            ("errorCode", 47), ("stat", 0), ("errorMsg", "upload failed")),
                               serviceType: 2, now: now, secret: secret)]
            }
            guard !states.isEmpty, states.allSatisfy({ $0 == .uploaded || $0 == .backupUploaded }) else { return [] }
            let backup = states.contains(.backupUploaded)
            return [notice(backup ? 32 : 31, task: task, details: .obj(("msgName", backup ? "backuped" : "uploaded"), ("status", 0)),
                           serviceType: 2, now: now, secret: secret)]
        }
    }

    func notice(_ eventType: Int, task: SimTask, details: JSONValue, serviceType: Int, now: Double,
                secret: String) -> SimCallbackRequest {
        let ms = (now * 1000).rounded()
        let body = JSONValue.obj(
            ("noticeId", .string(UUID().uuidString.lowercased())), ("productId", 3), ("eventType", .number(Double(eventType))),
            ("notifyMs", .number(ms)),
            ("payload", .obj(("cname", .string(task.fields["cname"] ?? "channel-\(task.id.prefix(6))")), ("uid", "527841"),
                             ("sid", .string(task.id)), ("sequence", .number(Double(SimCallbackSequence.take()))),
                             ("sendts", .number(ms)), ("serviceType", .number(Double(serviceType))), ("details", details)))).bytes
        return SimCallbackRequest(headers: ["Content-Type": "application/json",
                                            "Agora-Signature": AgoraCallback.signatureV1(body: body, secret: secret),
                                            "Agora-Signature-V2": AgoraCallback.signatureV2(body: body, secret: secret)], body: body)
    }
}
