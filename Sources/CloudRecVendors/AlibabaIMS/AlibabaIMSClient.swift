import CloudRecCore

// Placeholder until this vendor's client lands: it answers every poll with a client error.
public struct AlibabaIMSClient: VendorClient {
    public let account: AccountSpec
    public var statusAPIName: String { "GetLiveRecordJob" }

    public init(account: AccountSpec) { self.account = account }

    public static let schema = VendorSchema(
        vendor: .alibabaIMS, statusAPIName: "GetLiveRecordJob", defaultRateLimit: 10,
        accountFields: [FieldSpec("region")],
        credentialFields: [],
        taskFields: [],
        defaultEndpoint: { _ in "https://invalid.example" },
        makeClient: { AlibabaIMSClient(account: $0) })

    public func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest {
        throw VendorRequestError("GetLiveRecordJob is not implemented yet")
    }

    public func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult {
        .failure(.clientError, code: nil, message: "not implemented")
    }
}
