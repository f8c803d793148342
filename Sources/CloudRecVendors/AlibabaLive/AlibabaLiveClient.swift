import CloudRecCore

// Placeholder until this vendor's client lands: it answers every poll with a client error.
public struct AlibabaLiveClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { "DescribeRtcCloudRecordingFiles" }

    public init(account: AccountSpec) { self.account = account }

    public static let schema = VendorSchema(
        vendor: .alibabaLive, statusAPIName: "DescribeRtcCloudRecordingFiles", defaultRateLimit: 50,
        accountFields: [FieldSpec("region")],
        credentialFields: [],
        taskFields: [],
        defaultEndpoint: { _ in "https://invalid.example" },
        makeClient: { AlibabaLiveClient(account: $0) })

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        throw VendorRequestError("DescribeRtcCloudRecordingFiles is not implemented yet")
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        .failure(.clientError, code: nil, message: "not implemented")
    }
}
