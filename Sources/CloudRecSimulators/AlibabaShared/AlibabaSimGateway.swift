import CloudRecCore
import CloudRecVendors
import Foundation
import Synchronization

/// An error answer as the Alibaba gateway or a product sends it.
public struct AlibabaSimError: Sendable, Hashable {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
}

/// A request that passed the gateway: authenticated, inside the rate limit, for the simulated operation.
public struct AlibabaSimCall: Sendable {
    /// API parameters (for RPC v1 the common signing parameters are among them; products ignore those).
    public var parameters: [String: String]
    /// The simulator clock when the request arrived.
    public var now: Double
    /// The operation asked for (one of the gateway's `operations`).
    public var action: String = ""
}

/// The part of Alibaba Cloud's API gateway both product simulators share: V3 or RPC v1 signature checks, the ±15 min
/// timestamp window, nonce replay, per-account QPS (`Throttling.User`, HTTP 400) and the error envelope
/// `{RequestId, HostId, Code, Message, Recommend}`. Every answer carries a fresh `RequestId`.
public struct AlibabaSimGateway: Sendable {
    public enum Admission: Sendable {
        case admitted(AlibabaSimCall)
        case rejected(SimResponse)
    }

    public static let maxClockSkewSeconds: Double = 900
    /// The gateway's spelling (no space). The official SDK parses every answer as JSON except an error whose content
    /// type is exactly `text/xml;charset=utf-8` (alibabacloud_tea_openapi/client.py `do_request`), the same spelling.
    public static let contentType = "application/json;charset=utf-8"

    /// `live.aliyuncs.com`, `ice.cn-shanghai.aliyuncs.com`: the `HostId` of error answers.
    public let hostID: String
    /// Product name for the `Recommend` link (`live`, `ICE`).
    public let product: String
    /// The operations this product serves (status, and list where discovery is simulated).
    public let operations: [AlibabaRPCOperation]
    public var operation: AlibabaRPCOperation { operations[0] }
    public let accessKeyID: String
    private let accessKeySecret: String
    public let clock: SimClock
    public let stats: SimStats
    public let limiter: SimRateLimiter
    private let nonces = NonceLedger(retentionSeconds: 2 * AlibabaSimGateway.maxClockSkewSeconds)

    public init(hostID: String, product: String, operations: [AlibabaRPCOperation], accessKeyID: String,
                accessKeySecret: String, clock: SimClock, stats: SimStats, qps: Int) {
        self.hostID = hostID
        self.product = product
        self.operations = operations
        self.accessKeyID = accessKeyID
        self.accessKeySecret = accessKeySecret
        self.clock = clock
        self.stats = stats
        self.limiter = SimRateLimiter(limit: qps)
    }

    /// Admits the request and hands it to the product's logic, or answers the gateway's refusal.
    public func handle(_ request: SimRequest, conditions: SimConditions = .normal, _ product: (AlibabaSimCall) -> SimResponse) -> SimResponse {
        switch admit(request, conditions: conditions) {
        case let .rejected(response): return response
        case let .admitted(call): return product(call)
        }
    }

    public func admit(_ request: SimRequest, conditions: SimConditions = .normal) -> Admission {
        let now = clock.now()
        guard request.path == "/" || request.path.isEmpty else {
            return .rejected(reject(.badRequest, 404, AlibabaErrorCodes.apiNotFound, "Specified api is not found, please check your url and method."))
        }
        let verified: Result<SignedCall, Rejection>
        if let authorization = request.header("authorization") {
            verified = verifyV3(request, authorization: authorization, now: conditions.authTime(now))
        } else if request.queryValue("Signature") != nil {
            verified = verifyRPCv1(request, now: conditions.authTime(now))
        } else {
            verified = .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature,
                                          "The request signature does not conform to Aliyun standards."))
        }
        switch verified {
        case let .failure(rejection):
            return .rejected(reject(rejection.event, rejection.error.status, rejection.error.code, rejection.error.message))
        case let .success(call):
            guard conditions.admits(limiter, now: now) else {
                return .rejected(throttled(now: now))
            }
            guard operations.contains(where: { $0.action == call.action && $0.version == call.version }) else {
                return .rejected(reject(.badRequest, 404, AlibabaErrorCodes.apiNotFound,
                                        "Specified api is not found, please check your url and method."))
            }
            return .admitted(AlibabaSimCall(parameters: call.parameters, now: now, action: call.action))
        }
    }

    // MARK: Answers

    /// Records `event` and renders the error envelope.
    public func reject(_ event: SimStats.Event, _ status: Int, _ code: String, _ message: String) -> SimResponse {
        stats.record(event)
        return .json(status, .obj(("RequestId", .string(Self.requestID())), ("HostId", .string(hostID)), ("Code", .string(code)),
                                  ("Message", .string(message)),
                                  ("Recommend", .string("https://api.aliyun.com/troubleshoot?q=\(code)&product=\(product)"))),
                     contentType: Self.contentType)
    }

    /// `Throttling.User` (HTTP 400) with the back-off hint the official SDK honours: `x-acs-retry-after` in
    /// milliseconds (alibabacloud_tea_openapi `get_throttling_time_left`), until the rate window admits again.
    public func throttled(now: Double) -> SimResponse {
        var response = reject(.throttled, 400, AlibabaErrorCodes.throttlingUser, "Request was denied due to user flow control.")
        response.headers["x-acs-retry-after"] = String(limiter.retryAfterMilliseconds(now: now))
        return response
    }

    public func reject(_ event: SimStats.Event, _ error: AlibabaSimError) -> SimResponse {
        reject(event, error.status, error.code, error.message)
    }

    public func answer(_ body: JSONValue) -> SimResponse {
        stats.record(.answered)
        return .json(200, body, contentType: Self.contentType)
    }

    /// Upper-case UUID, the form Alibaba request ids take.
    public static func requestID() -> String { UUID().uuidString }

    // MARK: Signature checks

    private struct Rejection: Error {
        var event: SimStats.Event
        var error: AlibabaSimError
        init(_ event: SimStats.Event, _ status: Int, _ code: String, _ message: String) {
            self.event = event
            error = AlibabaSimError(status: status, code: code, message: message)
        }
    }

    /// What a correctly signed request asks for, before the rate limit and the operation check.
    private struct SignedCall {
        var action: String
        var version: String
        var parameters: [String: String]
    }

    private static let signatureMismatch = "Specified signature is not matched with our calculation."

    private func verifyV3(_ request: SimRequest, authorization: String, now: Double) -> Result<SignedCall, Rejection> {
        guard let parsed = AlibabaV3Signature.parseAuthorization(authorization) else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature, "Authorization header is malformed."))
        }
        guard parsed.accessKeyID == accessKeyID else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.accessKeyNotFound, "Specified access key is not found."))
        }
        guard let action = request.header("x-acs-action"), let version = request.header("x-acs-version") else {
            return .failure(Rejection(.badRequest, 400, AlibabaErrorCodes.missingParameter, "x-acs-action and x-acs-version are mandatory."))
        }
        for name in ["host", "x-acs-date", "x-acs-signature-nonce", AlibabaV3Signature.contentHashHeader]
            where request.header(name) == nil {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature, "Header \(name) is missing."))
        }
        // Every x-acs-* header, host and content-type must be signed, and every signed header must be present.
        let mustSign = request.headers.keys.filter { $0 == "host" || $0 == "content-type" || $0.hasPrefix("x-acs-") }
        if let unsigned = mustSign.sorted().first(where: { !parsed.signedHeaders.contains($0) }) {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature, "Header \(unsigned) must be signed."))
        }
        if let absent = parsed.signedHeaders.first(where: { request.header($0) == nil }) {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature, "Signed header \(absent) is missing."))
        }
        if let rejection = checkTimestamp(request.header("x-acs-date") ?? "", now: now) { return .failure(rejection) }
        let declaredHash = request.header(AlibabaV3Signature.contentHashHeader) ?? ""
        guard declaredHash == AlibabaV3Signature.payloadHash(request.body) else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.signatureDoesNotMatch,
                                      "The request body does not match x-acs-content-sha256."))
        }
        let canonicalRequest = AlibabaV3Signature.canonicalRequest(
            method: request.method, path: request.path, query: request.query,
            headers: parsed.signedHeaders.map { ($0, request.header($0) ?? "") }, payloadHash: declaredHash)
        let expected = AlibabaV3Signature.sign(stringToSign: AlibabaV3Signature.stringToSign(canonicalRequest: canonicalRequest),
                                               accessKeySecret: accessKeySecret)
        guard expected == parsed.signature else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.signatureDoesNotMatch, Self.signatureMismatch))
        }
        if let rejection = claimNonce(request.header("x-acs-signature-nonce") ?? "", now: now) { return .failure(rejection) }
        return .success(SignedCall(action: action, version: version,
                                   parameters: Dictionary(request.query, uniquingKeysWith: { first, _ in first })))
    }

    private func verifyRPCv1(_ request: SimRequest, now: Double) -> Result<SignedCall, Rejection> {
        // Form-encoded body parameters are signed along with the query, as the SDK's RPC v1 path does.
        var parameters = request.query
        if request.header("content-type")?.contains("application/x-www-form-urlencoded") == true {
            parameters += SimRequest.parseQuery(String(decoding: request.body, as: UTF8.self))
        }
        let values = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        for name in ["AccessKeyId", "SignatureNonce", "Timestamp", "SignatureMethod", "SignatureVersion", "Action", "Version"]
            where (values[name] ?? "").isEmpty {
            return .failure(Rejection(.badRequest, 400, AlibabaErrorCodes.missingParameter, "\(name) is mandatory for this action."))
        }
        guard values["SignatureMethod"] == AlibabaRPCv1Signature.signatureMethod,
              values["SignatureVersion"] == AlibabaRPCv1Signature.signatureVersion else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.incompleteSignature, "Unsupported signature method or version."))
        }
        guard values["AccessKeyId"] == accessKeyID else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.accessKeyNotFound, "Specified access key is not found."))
        }
        if let rejection = checkTimestamp(values["Timestamp"] ?? "", now: now) { return .failure(rejection) }
        let expected = AlibabaRPCv1Signature.signature(method: request.method, parameters: parameters.filter { $0.0 != "Signature" },
                                                       accessKeySecret: accessKeySecret)
        guard expected == values["Signature"] else {
            return .failure(Rejection(.authRejected, 400, AlibabaErrorCodes.signatureDoesNotMatch, Self.signatureMismatch))
        }
        if let rejection = claimNonce(values["SignatureNonce"] ?? "", now: now) { return .failure(rejection) }
        return .success(SignedCall(action: values["Action"] ?? "", version: values["Version"] ?? "", parameters: values))
    }

    private func checkTimestamp(_ text: String, now: Double) -> Rejection? {
        guard let date = AlibabaTimestamp.parse(text) else {
            return Rejection(.authRejected, 400, AlibabaErrorCodes.timestampFormat, "Specified time stamp or date value is not well formatted.")
        }
        guard abs(date.timeIntervalSince1970 - now) <= Self.maxClockSkewSeconds else {
            return Rejection(.authRejected, 400, AlibabaErrorCodes.timestampExpired, "Specified time stamp or date value is expired.")
        }
        return nil
    }

    /// Checked after the signature, so that forged requests cannot use up nonces.
    private func claimNonce(_ nonce: String, now: Double) -> Rejection? {
        nonces.claim(nonce, now: now) ? nil
            : Rejection(.authRejected, 400, AlibabaErrorCodes.nonceUsed, "Specified signature nonce was used already.")
    }
}

/// Nonces seen recently. A timestamp may be up to 15 min off either way, so a nonce must be remembered for 30 min
/// before a replay would be caught by the timestamp check instead.
private final class NonceLedger: Sendable {
    private struct State {
        var seen: [String: Double] = [:]
        var lastPurge: Double = 0
    }

    private let state = Mutex(State())
    private let retentionSeconds: Double

    init(retentionSeconds: Double) { self.retentionSeconds = retentionSeconds }

    /// True the first time `nonce` is seen within the retention window.
    func claim(_ nonce: String, now: Double) -> Bool {
        state.withLock { s in
            if now - s.lastPurge > 60 {
                s.seen = s.seen.filter { now - $0.value < retentionSeconds }
                s.lastPurge = now
            }
            if let seenAt = s.seen[nonce], now - seenAt < retentionSeconds { return false }
            s.seen[nonce] = now
            return true
        }
    }
}
