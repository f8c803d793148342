import CloudRecCore

/// ApsaraVideo Live RTC cloud recording `DescribeRtcCloudRecordingFiles` (product `live`, version 2016-11-01, RPC):
/// `POST /?TaskId=…` with an empty body, signed V3 or RPC v1 per the account's `signature_version`.
public struct AlibabaLiveClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { Self.operation.action }

    public init(account: AccountSpec) { self.account = account }

    /// POST with the parameters in the query string is what the official SDK sends.
    public static let operation = AlibabaRPCOperation(action: "DescribeRtcCloudRecordingFiles", version: "2016-11-01",
                                                      method: "POST")

    /// 50 calls/s per account (main account and its RAM users share it), from the API page's QPS section.
    /// The endpoint is `live.aliyuncs.com` for every region the SDK maps; set `endpoint` to override.
    public static let schema = VendorSchema(
        vendor: .alibabaLive, defaultRateLimit: 50,
        accountFields: AlibabaAccountSchema.accountFields,
        credentialFields: AlibabaAccountSchema.credentialFields,
        taskFields: [],
        defaultEndpoint: { _ in "https://live.aliyuncs.com" },
        makeClient: { AlibabaLiveClient(account: $0) }, callbackHandler: AlibabaLiveCallback())

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        try AlibabaRPCRequest.signed(Self.operation, parameters: [("TaskId", task.id)], account: account, context: context)
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        AlibabaLiveResponseDecoder.interpret(response)
    }
}
