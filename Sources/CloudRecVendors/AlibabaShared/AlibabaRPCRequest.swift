import CloudRecCore
import Foundation

/// One Alibaba Cloud RPC-style operation, called the way its official SDK calls it.
public struct AlibabaRPCOperation: Sendable, Hashable {
    public var action: String
    public var version: String
    /// The HTTP method the product's SDK sends (Live: POST, IMS: GET). RPC accepts both; the method is signed.
    public var method: String

    public init(action: String, version: String, method: String) {
        self.action = action
        self.version = version
        self.method = method
    }
}

/// Config fields every Alibaba account has, whatever the product.
public enum AlibabaAccountSchema {
    public static let accessKeyIDField = "access_key_id"
    public static let accessKeySecretField = "access_key_secret"

    public static let accountFields = [
        FieldSpec("region"),
        FieldSpec(AlibabaSignatureVersion.fieldName, required: false,
                  kind: .oneOf(AlibabaSignatureVersion.allCases.map(\.rawValue))),
    ]
    public static let credentialFields = [accessKeyIDField, accessKeySecretField]
}

/// Builds signed RPC requests: parameters in the query string, empty body, as both SDK signing paths send them.
public enum AlibabaRPCRequest {
    /// Signs with the account's `signature_version` (V3 unless it says `rpc_v1`).
    public static func signed(_ operation: AlibabaRPCOperation, parameters: [(String, String)], account: AccountSpec,
                              context: RequestContext) throws -> OutboundRequest {
        let versionName = account.fields[AlibabaSignatureVersion.fieldName] ?? AlibabaSignatureVersion.default.rawValue
        guard let version = AlibabaSignatureVersion(rawValue: versionName) else {
            throw VendorRequestError("account \(account.name): unknown signature_version \"\(versionName)\"")
        }
        let accessKeyID = account.credential(AlibabaAccountSchema.accessKeyIDField).reveal()
        guard !accessKeyID.isEmpty else { throw VendorRequestError("account \(account.name): access_key_id missing") }
        let secret = account.credential(AlibabaAccountSchema.accessKeySecretField).reveal()
        let nonce = Self.nonce(from: context.nonce)
        switch version {
        case .v3:
            return signedV3(operation, parameters: parameters, endpoint: account.endpoint, accessKeyID: accessKeyID,
                            accessKeySecret: secret, date: context.now, nonce: nonce)
        case .rpcV1:
            return signedRPCv1(operation, parameters: parameters, endpoint: account.endpoint, accessKeyID: accessKeyID,
                               accessKeySecret: secret, date: context.now, nonce: nonce)
        }
    }

    /// V3: the operation travels in `x-acs-*` headers and every header we send (bar Authorization) is signed,
    /// as the SDK does, so nothing unsigned can be altered on the way.
    public static func signedV3(_ operation: AlibabaRPCOperation, parameters: [(String, String)], endpoint: String,
                                accessKeyID: String, accessKeySecret: String, date: Date, nonce: String) -> OutboundRequest {
        let headers = v3Headers(operation, host: host(of: endpoint), date: date, nonce: nonce)
        let canonicalRequest = AlibabaV3Signature.canonicalRequest(
            method: operation.method, path: "/", query: parameters, headers: headers,
            payloadHash: AlibabaV3Signature.payloadHash([]))
        let signature = AlibabaV3Signature.sign(stringToSign: AlibabaV3Signature.stringToSign(canonicalRequest: canonicalRequest),
                                                accessKeySecret: accessKeySecret)
        let authorization = AlibabaV3Signature.authorization(
            accessKeyID: accessKeyID, signedHeaders: AlibabaV3Signature.canonicalHeaders(headers).signedHeaders,
            signature: signature)
        return OutboundRequest(method: operation.method, url: url(endpoint, query: AlibabaCanonicalQuery.encode(parameters)),
                               headers: headers.map { HeaderField($0.0, $0.1) } + [HeaderField("authorization", authorization)])
    }

    /// The headers a V3 request carries and signs, in the order the SDK builds them.
    public static func v3Headers(_ operation: AlibabaRPCOperation, host: String, date: Date, nonce: String) -> [(String, String)] {
        [("host", host), ("x-acs-version", operation.version), ("x-acs-action", operation.action),
         ("x-acs-date", AlibabaTimestamp.format(date)), ("x-acs-signature-nonce", nonce), ("accept", "application/json"),
         (AlibabaV3Signature.contentHashHeader, AlibabaV3Signature.payloadHash([]))]
    }

    /// RPC v1: the operation and the signing inputs are all query parameters, and `Signature` is appended last.
    public static func signedRPCv1(_ operation: AlibabaRPCOperation, parameters: [(String, String)], endpoint: String,
                                   accessKeyID: String, accessKeySecret: String, date: Date, nonce: String) -> OutboundRequest {
        let signed = rpcV1Parameters(operation, accessKeyID: accessKeyID, date: date, nonce: nonce) + parameters
        let signature = AlibabaRPCv1Signature.signature(method: operation.method, parameters: signed,
                                                        accessKeySecret: accessKeySecret)
        let query = AlibabaCanonicalQuery.encode(signed) + "&Signature=" + PercentEncoding.encode(signature)
        return OutboundRequest(method: operation.method, url: url(endpoint, query: query))
    }

    /// The common parameters of an RPC v1 call (no `RegionId`: it is optional, and the SDK does not send it).
    public static func rpcV1Parameters(_ operation: AlibabaRPCOperation, accessKeyID: String, date: Date,
                                       nonce: String) -> [(String, String)] {
        [("Action", operation.action), ("Version", operation.version), ("Format", "JSON"), ("AccessKeyId", accessKeyID),
         ("SignatureMethod", AlibabaRPCv1Signature.signatureMethod), ("SignatureVersion", AlibabaRPCv1Signature.signatureVersion),
         ("SignatureNonce", nonce), ("Timestamp", AlibabaTimestamp.format(date))]
    }

    /// 16 hex characters from the context's 64 random bits: unique enough for the gateway's nonce window.
    public static func nonce(from bits: UInt64) -> String {
        let hex = String(bits, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `host[:port]` of a base URL, the value of the signed `host` header.
    public static func host(of endpoint: String) -> String {
        var rest = Substring(endpoint)
        if let schemeEnd = rest.range(of: "://") { rest = rest[schemeEnd.upperBound...] }
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }

    private static func url(_ endpoint: String, query: String) -> String {
        endpoint.trimmingTrailingSlash + "/" + (query.isEmpty ? "" : "?" + query)
    }
}
