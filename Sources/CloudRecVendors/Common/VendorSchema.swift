import CloudRecCore

/// How a vendor-specific config field is validated.
public enum FieldKind: Sendable, Hashable {
    case text
    /// Numeric ids (`app_id`, `sdk_app_id`): accepted as YAML numbers or strings, must be digits.
    case numericID
    case oneOf([String])
}

public struct FieldSpec: Sendable, Hashable {
    public var name: String
    public var required: Bool
    public var kind: FieldKind

    public init(_ name: String, required: Bool = true, kind: FieldKind = .text) {
        self.name = name
        self.required = required
        self.kind = kind
    }

    /// Returns a problem description, or nil when the value is acceptable.
    /// The longest text field value: vendor ids and names are far shorter.
    public static let maxLength = 256

    public func problem(with value: String) -> String? {
        switch kind {
        case .text:
            return !ExternalText.isPrintable(value, lengths: 1...Self.maxLength)
                ? "must be 1 to \(Self.maxLength) printable characters" : nil
        case .numericID:
            return !value.isEmpty && value.count <= 20 && value.allSatisfy(\.isASCII) && value.allSatisfy(\.isNumber)
                ? nil : "must be a numeric id, got \"\(ExternalText.excerpt(value))\" (at most 20 digits)"
        case let .oneOf(allowed):
            return allowed.contains(value) ? nil : "must be one of \(allowed.joined(separator: ", ")), got \"\(ExternalText.excerpt(value))\""
        }
    }
}

/// What the configuration must provide for a vendor, and its documented defaults.
public struct VendorSchema: Sendable {
    public var vendor: Vendor
    /// The documented per-account limit for the status API, requests per second.
    public var defaultRateLimit: Double
    public var accountFields: [FieldSpec]
    public var credentialFields: [String]
    public var taskFields: [FieldSpec]
    /// The vendor's documented base URL, which may depend on account fields (Alibaba IMS is regional).
    public var defaultEndpoint: @Sendable (_ accountFields: [String: String]) -> String
    public var makeClient: @Sendable (AccountSpec) -> any VendorClient
    /// The vendor's task list API, for accounts with `discover: true`; nil when the vendor has none.
    public var makeLister: (@Sendable (AccountSpec) -> any TaskLister)?
    /// Verifies and decodes the vendor's recording callbacks; nil when the vendor documents none we can verify.
    public var callbackHandler: (any VendorCallbackHandler)?

    public init(vendor: Vendor, defaultRateLimit: Double, accountFields: [FieldSpec],
                credentialFields: [String], taskFields: [FieldSpec],
                defaultEndpoint: @escaping @Sendable ([String: String]) -> String,
                makeClient: @escaping @Sendable (AccountSpec) -> any VendorClient,
                callbackHandler: (any VendorCallbackHandler)? = nil) {
        self.vendor = vendor
        self.callbackHandler = callbackHandler
        self.defaultRateLimit = defaultRateLimit
        self.accountFields = accountFields
        self.credentialFields = credentialFields
        self.taskFields = taskFields
        self.defaultEndpoint = defaultEndpoint
        self.makeClient = makeClient
    }
}

/// The one place that knows every vendor.
public enum VendorCatalog {
    public static func schema(for vendor: Vendor) -> VendorSchema {
        switch vendor {
        case .agora: return AgoraClient.schema
        case .zego: return ZegoClient.schema
        case .tencentTRTC: return TencentTRTCClient.schema
        case .alibabaLive: return AlibabaLiveClient.schema
        case .alibabaIMS: return AlibabaIMSClient.schema
        }
    }

    public static func makeClient(for account: AccountSpec) -> any VendorClient {
        schema(for: account.vendor).makeClient(account)
    }

    public static func makeLister(for account: AccountSpec) -> (any TaskLister)? {
        schema(for: account.vendor).makeLister?(account)
    }
}
