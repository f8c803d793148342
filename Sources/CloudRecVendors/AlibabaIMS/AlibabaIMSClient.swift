import CloudRecCore

/// Intelligent Media Services (product `ice`, version 2020-11-09, RPC) `GetLiveRecordJob`: `GET /?JobId=…` with an
/// empty body, signed V3 or RPC v1 per the account's `signature_version`. Jobs are regional, so the default endpoint
/// is built from the account's `region`.
public struct AlibabaIMSClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { Self.operation.action }

    public init(account: AccountSpec) { self.account = account }

    public static let operation = AlibabaRPCOperation(action: "GetLiveRecordJob", version: "2020-11-09", method: "GET")

    /// No QPS figure is published for GetLiveRecordJob (IMS's flow-control page was not found). 10/s is our own
    /// conservative choice: the lowest limit documented for any status API we poll (ZEGO, Agora), and a fifth of
    /// ApsaraVideo Live's 50/s. Throttling answers still slow us down if the real limit is lower.
    public static let schema: VendorSchema = {
        var schema = VendorSchema(
            vendor: .alibabaIMS, defaultRateLimit: 10,
            accountFields: AlibabaAccountSchema.accountFields,
            credentialFields: AlibabaAccountSchema.credentialFields,
            taskFields: [],
            defaultEndpoint: { fields in "https://ice.\(fields["region"] ?? "cn-shanghai").aliyuncs.com" },
            makeClient: { AlibabaIMSClient(account: $0) })
        schema.makeLister = { AlibabaIMSLister(account: $0) }
        return schema
    }()

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        try AlibabaRPCRequest.signed(Self.operation, parameters: [("JobId", task.id)], account: account, context: context)
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        AlibabaIMSResponseDecoder.interpret(response)
    }
}
