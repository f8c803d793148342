import CloudRecCore

// Placeholder until this vendor's client lands: it answers every poll with a client error.
public struct TencentTRTCClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { "DescribeCloudRecording" }

    public init(account: AccountSpec) { self.account = account }

    public static let schema = VendorSchema(
        vendor: .tencentTRTC, statusAPIName: "DescribeCloudRecording", defaultRateLimit: 20,
        accountFields: [FieldSpec("region")],
        credentialFields: [],
        taskFields: [],
        defaultEndpoint: { _ in "https://invalid.example" },
        makeClient: { TencentTRTCClient(account: $0) })

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        throw VendorRequestError("DescribeCloudRecording is not implemented yet")
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        .failure(.clientError, code: nil, message: "not implemented")
    }
}
