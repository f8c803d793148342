import CloudRecCore
import Foundation

/// Tencent Cloud TRTC `DescribeCloudRecording` (API 3.0, version 2019-07-22): `POST /` with body
/// `{"SdkAppId": <int>, "TaskId": "..."}`, signed with TC3-HMAC-SHA256 over `content-type;host` as the official SDKs do.
public struct TencentTRTCClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { Self.action }

    public init(account: AccountSpec) { self.account = account }

    public static let action = "DescribeCloudRecording"
    public static let apiVersion = "2019-07-22"
    public static let service = "trtc"
    public static let contentType = "application/json"
    /// The regions this API accepts (its API page).
    public static let regions = ["ap-beijing", "ap-guangzhou", "ap-mumbai", "ap-shanghai", "ap-singapore"]

    public static let schema = VendorSchema(
        vendor: .tencentTRTC, defaultRateLimit: 20,
        accountFields: [FieldSpec("region", kind: .oneOf(regions)), FieldSpec("sdk_app_id", kind: .numericID)],
        credentialFields: ["secret_id", "secret_key"],
        // A task may belong to another application of the same account.
        taskFields: [FieldSpec("sdk_app_id", required: false, kind: .numericID)],
        defaultEndpoint: { _ in "https://trtc.tencentcloudapi.com" },
        makeClient: { TencentTRTCClient(account: $0) }, callbackHandler: TencentTRTCCallback())

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        guard let sdkAppIDText = task.fields["sdk_app_id"] ?? account.fields["sdk_app_id"] else {
            throw VendorRequestError("account \(account.name): sdk_app_id missing")
        }
        guard let sdkAppID = Int64(sdkAppIDText), sdkAppID >= 0 else {
            throw VendorRequestError("task \(task.id): sdk_app_id must be a number")
        }
        guard let region = account.fields["region"] else { throw VendorRequestError("account \(account.name): region missing") }
        guard let host = Self.hostHeader(endpoint: account.endpoint) else {
            throw VendorRequestError("account \(account.name): endpoint has no host")
        }
        let body = JSONValue.obj(("SdkAppId", .number(Double(sdkAppID))), ("TaskId", .string(task.id))).bytes
        let timestamp = Int64(context.now.timeIntervalSince1970)
        let signed = TencentTC3Signer.sign(TencentTC3Signer.Input(
            method: "POST", host: host, headers: [HeaderField("Content-Type", Self.contentType)], payload: body,
            timestamp: timestamp, service: Self.service,
            secretID: account.credential("secret_id").reveal(), secretKey: account.credential("secret_key").reveal()))
        return OutboundRequest(method: "POST", url: account.endpoint.trimmingTrailingSlash + "/", headers: [
            // Sent explicitly so the signed value and the sent value cannot differ.
            HeaderField("Host", host),
            HeaderField("Content-Type", Self.contentType),
            HeaderField("X-TC-Action", Self.action),
            HeaderField("X-TC-Version", Self.apiVersion),
            HeaderField("X-TC-Region", region),
            HeaderField("X-TC-Timestamp", String(timestamp)),
            HeaderField("Authorization", signed.authorization),
        ], body: body)
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        TencentTRTCResponseDecoder.interpret(response)
    }

    /// The `Host` value for an endpoint URL: lower-cased host, plus the port when it is not the scheme's default.
    public static func hostHeader(endpoint: String) -> String? {
        guard let components = URLComponents(string: endpoint), let host = components.host, !host.isEmpty else { return nil }
        let defaultPort = components.scheme?.lowercased() == "http" ? 80 : 443
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        if let port = components.port, port != defaultPort { return "\(hostPart.lowercased()):\(port)" }
        return hostPart.lowercased()
    }
}
