import CloudRecCore
import Foundation

/// Agora Cloud Recording `query`:
/// `GET /v1/apps/{appid}/cloud_recording/resourceid/{rid}/sid/{sid}/mode/{mode}/query` with HTTP Basic auth.
public struct AgoraClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { "query" }
    /// A 404 during Agora's high-availability failover lasts up to about 90 s; only a longer one ends the task.
    public var notFoundGraceSeconds: Double { 90 }

    public init(account: AccountSpec) { self.account = account }

    public static let modes = ["individual", "mix", "web"]

    public static let schema = VendorSchema(
        vendor: .agora, defaultRateLimit: 10,
        accountFields: [FieldSpec("app_id")],
        credentialFields: ["customer_id", "customer_secret"],
        taskFields: [FieldSpec("resource_id"), FieldSpec("mode", kind: .oneOf(modes))],
        defaultEndpoint: { _ in "https://api.sd-rtn.com" },
        makeClient: { AgoraClient(account: $0) }, callbackHandler: AgoraCallback())

    public static func basicAuthorization(customerID: String, customerSecret: String) -> String {
        "Basic " + Data("\(customerID):\(customerSecret)".utf8).base64EncodedString()
    }

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        guard let appID = account.fields["app_id"] else { throw VendorRequestError("account \(account.name): app_id missing") }
        guard let resourceID = task.fields["resource_id"], !resourceID.isEmpty else {
            throw VendorRequestError("task \(task.id): resource_id missing")
        }
        let mode = task.fields["mode"] ?? "mix"
        let path = "/v1/apps/\(PercentEncoding.encode(appID))/cloud_recording/resourceid/\(PercentEncoding.encode(resourceID))"
            + "/sid/\(PercentEncoding.encode(task.id))/mode/\(PercentEncoding.encode(mode))/query"
        let authorization = Self.basicAuthorization(customerID: account.credential("customer_id").reveal(),
                                                    customerSecret: account.credential("customer_secret").reveal())
        return OutboundRequest(method: "GET", url: account.endpoint.trimmingTrailingSlash + path, headers: [
            HeaderField("Authorization", authorization),
            HeaderField("Content-Type", "application/json;charset=utf-8"),
        ])
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        AgoraResponseDecoder.interpret(response, mode: task.fields["mode"] ?? "mix")
    }
}
