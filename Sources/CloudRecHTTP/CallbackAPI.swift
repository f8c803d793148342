import CloudRecCore
import Hummingbird
import NIOCore

/// What the callback endpoint needs from the running exporter (the app forwards to its `CallbackIntake`).
public protocol CallbackReceiver: Sendable {
    /// `body` nil: larger than `CallbackReply.maxBodyBytes`.
    func receiveCallback(account: String, headers: [String: String], body: [UInt8]?) -> CallbackReply
}

/// `POST /callbacks/{account}`: vendor recording callbacks (docs/callbacks.md). The raw body is handed over untouched,
/// since signatures cover the exact bytes. Answers: 200 with the vendor's acknowledgement, 401 bad signature or replay,
/// 400 malformed, 404 unknown account or callbacks not configured, 413 too large; errors as `{"error": "..."}`.
public enum CallbackAPI {
    public static func register(on router: Router<BasicRequestContext>, receiver: any CallbackReceiver) {
        router.post("/callbacks/:account") { request, context in
            let account = context.parameters.get("account")?.removingPercentEncoding ?? ""
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            var body: [UInt8]?
            if let length = request.headers[.contentLength].flatMap(Int.init), length > CallbackReply.maxBodyBytes {
                body = nil
            } else {
                var request = request
                body = (try? await request.collectBody(upTo: CallbackReply.maxBodyBytes)).map { Array(buffer: $0) }
            }
            let reply = receiver.receiveCallback(account: account, headers: headers, body: body)
            return ExporterRouter.jsonResponse(.init(code: reply.status), reply.body)
        }
    }
}
