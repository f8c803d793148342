import CloudRecCore

/// ZEGOCLOUD Cloud Recording `DescribeRecordStatus`: `POST /?Action=DescribeRecordStatus&<signed common params>`
/// with body `{"TaskId": "..."}`.
public struct ZegoClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { "DescribeRecordStatus" }

    public init(account: AccountSpec) { self.account = account }

    public static let schema: VendorSchema = {
        var schema = VendorSchema(
            vendor: .zego, defaultRateLimit: 10,
            accountFields: [FieldSpec("app_id", kind: .numericID)],
            credentialFields: ["server_secret"],
            taskFields: [],
            defaultEndpoint: { _ in "https://cloudrecord-api.zego.im" },
            makeClient: { ZegoClient(account: $0) }, callbackHandler: ZegoCallback())
        schema.makeLister = { ZegoTaskLister(account: $0) }
        return schema
    }()

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        guard let appID = account.fields["app_id"] else { throw VendorRequestError("account \(account.name): app_id missing") }
        let query = ZegoSigner.commonQuery(action: statusAPIName, appID: appID,
                                           serverSecret: account.credential("server_secret").reveal(),
                                           nonceBits: context.nonce,
                                           timestamp: Int64(context.now.timeIntervalSince1970))
        let body = JSONValue.obj(("TaskId", .string(task.id)))
        return OutboundRequest(method: "POST", url: account.endpoint.trimmingTrailingSlash + "/?" + query,
                               headers: [HeaderField("Content-Type", "application/json")], body: body.bytes)
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        ZegoResponseDecoder.interpret(response)
    }
}
