import CloudRecCore
import CloudRecVendors
import Foundation

/// Agora Cloud Recording `query` as the vendor serves it: HTTP Basic auth checked, 10 requests/s per App ID
/// (HTTP 429 `{"message":"API rate limit exceeded"}` above it), gateway 404 for unknown routes, service 404 once a
/// recording has ended (after a short linger during which status 8 or 20 is still shown) and during failover.
public struct AgoraSimulator: VendorSimulator {
    public let vendor = Vendor.agora
    public let book: SimTaskBook
    public let stats = SimStats()
    public let faults = FaultInjector()
    public let limiter: SimRateLimiter
    public let appID: String
    public let customerID: String
    public let customerSecret: String
    /// How long an ended recording still answers with status 8/20 before it returns 404.
    public let endedLingerSeconds: Double

    public init(book: SimTaskBook, appID: String, customerID: String, customerSecret: String, qps: Int = 10,
                endedLingerSeconds: Double = 5) {
        self.book = book
        self.appID = appID
        self.customerID = customerID
        self.customerSecret = customerSecret
        self.limiter = SimRateLimiter(limit: qps)
        self.endedLingerSeconds = endedLingerSeconds
    }

    public func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        // v1 apps {appid} cloud_recording resourceid {rid} sid {sid} mode {mode} query
        guard request.method == "GET", segments.count == 11, segments[0] == "v1", segments[1] == "apps",
              segments[3] == "cloud_recording", segments[4] == "resourceid", segments[6] == "sid",
              segments[8] == "mode", segments[10] == "query" else {
            stats.record(.badRequest)
            return .json(404, .obj(("message", "no Route matched with those values")))
        }
        guard let authorization = request.header("authorization") else {
            stats.record(.authRejected)
            return .json(401, .obj(("message", "Unauthorized")))
        }
        guard authorization == AgoraClient.basicAuthorization(customerID: customerID, customerSecret: customerSecret) else {
            stats.record(.authRejected)
            return .json(401, .obj(("message", "Invalid authentication credentials")))
        }
        let now = book.clock.now()
        guard conditions.admits(limiter, now: now) else {
            stats.record(.throttled)
            return .json(429, .obj(("message", "API rate limit exceeded")))
        }
        let (requestAppID, resourceID, sid, mode) = (segments[2].removingPercentEncoding ?? segments[2],
                                                     segments[5].removingPercentEncoding ?? segments[5],
                                                     segments[7].removingPercentEncoding ?? segments[7], segments[9])
        guard requestAppID == appID else {
            stats.record(.badRequest)
            return .json(400, .obj(("message", "appid is invalid")))
        }
        guard AgoraClient.modes.contains(mode) else {
            stats.record(.badRequest)
            return .json(404, .obj(("message", "no Route matched with those values")))
        }
        guard let task = book.task(sid), task.hiddenUntil.map({ now >= $0 }) ?? true,
              !(task.phase.hasEnded && now - (task.endTime ?? now) > endedLingerSeconds) else {
            stats.record(.notFound)
            return .json(404, .obj(("code", 404), ("reason", "failed to find worker"), ("resourceId", .string(resourceID)),
                                   ("sid", .string(sid))))
        }
        if let expected = task.fields["resource_id"], expected != resourceID {
            stats.record(.badRequest)
            return .json(400, .obj(("code", 1003), ("reason", "appid or sid does not match the resource id")))
        }
        stats.record(.answered)
        return .json(200, Self.queryBody(task, resourceID: resourceID, mode: mode))
    }

    static func statusCode(for task: SimTask) -> Int {
        switch task.phase {
        case .starting: return 4
        case .recording, .paused: return 5
        case .stopping: return 6
        case .ended: return 8
        case .exitedAbnormally: return 20
        }
    }

    static func queryBody(_ task: SimTask, resourceID: String, mode: String) -> JSONValue {
        let status = JSONValue.number(Double(statusCode(for: task)))
        let server: JSONValue
        if mode == "web" {
            let files = JSONValue.array(task.files.map { .obj(("filename", .string($0.name)), ("sliceStartTime", .number($0.startTime.rounded()))) })
            let state: JSONValue = task.phase.hasEnded ? "exit" : (task.phase == .starting ? "init" : "inProgress")
            server = .obj(("status", status), ("extensionServiceState", .array([
                .obj(("serviceName", "web_recorder_service"),
                     ("payload", .obj(("state", state), ("onhold", .bool(task.phase == .paused)), ("fileList", files)))),
            ])))
        } else {
            // The top-level `sliceStartTime` (ms) is "only returned in individual recording mode" (query page).
            let started: JSONValue? = mode == "individual" ? .number((task.startTime * 1000).rounded()) : nil
            if task.fields["file_list_mode"] == "string" {
                server = .obj(("status", status), ("fileListMode", "string"),
                              ("fileList", .string(task.files.first?.name ?? "")), ("sliceStartTime", started))
            } else {
                let individual = mode == "individual"
                let files = JSONValue.array(task.files.map { file in
                    .obj(("fileName", .string(file.name)), ("trackType", "audio_and_video"),
                         ("uid", .string(individual ? task.fields["uid"] ?? "1001" : "0")), ("mixedAllUser", .bool(!individual)),
                         ("isPlayable", true), ("sliceStartTime", .number(file.startTime.rounded())))
                })
                server = .obj(("status", status), ("fileListMode", "json"), ("fileList", files), ("sliceStartTime", started))
            }
        }
        return .obj(("cname", .string(task.fields["cname"] ?? "channel-\(task.id.prefix(6))")), ("uid", "527841"),
                    ("resourceId", .string(resourceID)), ("sid", .string(task.id)), ("serverResponse", server))
    }

    /// The seed document's example answer, used as the decoding baseline.
    public static let seedExampleBody = """
    {"cname":"xxx","uid":"xxx","resourceId":"xxx","sid":"xxx","serverResponse":{"status":5,"fileListMode":"json","fileList":[{"fileName":"xxx.m3u8","trackType":"audio_and_video","uid":"0","mixedAllUser":true,"isPlayable":true,"sliceStartTime":1562724971}],"sliceStartTime":1562724971626}}
    """
}
