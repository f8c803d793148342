import CloudRecCore
import Crypto
import Foundation

/// Tencent Cloud API 3.0 signature `TC3-HMAC-SHA256`, step by step as the "Signature v3" pages describe it.
/// Pure: the same inputs always give the same bytes, and every intermediate string is kept for tests.
public enum TencentTC3Signer {
    public static let algorithm = "TC3-HMAC-SHA256"

    public struct Input: Sendable {
        public var method: String
        /// The `Host` header value, including the port when it is not the scheme's default.
        public var host: String
        public var canonicalURI: String
        /// Empty for POST; the URL query string for GET.
        public var canonicalQuery: String
        /// Headers to sign besides `host` (at least `Content-Type`). Names and values are canonicalised here.
        public var headers: [HeaderField]
        public var payload: [UInt8]
        /// Unix seconds, the value of `X-TC-Timestamp`.
        public var timestamp: Int64
        public var service: String
        public var secretID: String
        public var secretKey: String

        public init(method: String, host: String, canonicalURI: String = "/", canonicalQuery: String = "",
                    headers: [HeaderField], payload: [UInt8], timestamp: Int64, service: String,
                    secretID: String, secretKey: String) {
            self.method = method
            self.host = host
            self.canonicalURI = canonicalURI
            self.canonicalQuery = canonicalQuery
            self.headers = headers
            self.payload = payload
            self.timestamp = timestamp
            self.service = service
            self.secretID = secretID
            self.secretKey = secretKey
        }
    }

    /// Every step's output. `authorization` is the only part that leaves the process.
    public struct Result: Sendable, Hashable {
        public var hashedPayload: String
        public var signedHeaders: String
        public var canonicalRequest: String
        public var hashedCanonicalRequest: String
        public var date: String
        public var credentialScope: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    public static func sign(_ input: Input) -> Result {
        let hashedPayload = sha256Hex(input.payload)
        let (canonicalHeaders, signedHeaders) = canonicalize(headers: input.headers + [HeaderField("Host", input.host)])
        let canonicalRequest = [input.method.uppercased(), input.canonicalURI, input.canonicalQuery, canonicalHeaders,
                                signedHeaders, hashedPayload].joined(separator: "\n")
        let hashedCanonicalRequest = sha256Hex(Array(canonicalRequest.utf8))
        let date = utcDate(input.timestamp)
        let credentialScope = "\(date)/\(input.service)/tc3_request"
        let stringToSign = [algorithm, String(input.timestamp), credentialScope, hashedCanonicalRequest]
            .joined(separator: "\n")
        let signature = signatureHex(secretKey: input.secretKey, date: date, service: input.service,
                                     stringToSign: stringToSign)
        // Comma plus space between the parts (Alibaba's V3 header uses a bare comma).
        let authorization = "\(algorithm) Credential=\(input.secretID)/\(credentialScope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Result(hashedPayload: hashedPayload, signedHeaders: signedHeaders, canonicalRequest: canonicalRequest,
                      hashedCanonicalRequest: hashedCanonicalRequest, date: date, credentialScope: credentialScope,
                      stringToSign: stringToSign, signature: signature, authorization: authorization)
    }

    /// Steps 5 and 6: `kDate = HMAC("TC3"+key, date)`, `kService = HMAC(kDate, service)`,
    /// `kSigning = HMAC(kService, "tc3_request")`, signature = hex HMAC(kSigning, stringToSign).
    /// The same function as the Python SDK's `Sign.sign_tc3`.
    public static func signatureHex(secretKey: String, date: String, service: String, stringToSign: String) -> String {
        let kDate = hmac(key: Array(("TC3" + secretKey).utf8), Array(date.utf8))
        let kService = hmac(key: kDate, Array(service.utf8))
        let kSigning = hmac(key: kService, Array("tc3_request".utf8))
        return Hex.encode(hmac(key: kSigning, Array(stringToSign.utf8)))
    }

    /// `CanonicalHeaders` (one `name:value\n` line per header) and `SignedHeaders` (`a;b;c`).
    /// Names and values are lower-cased and trimmed, names sorted: the docs' demos sign `x-tc-action:describeinstances`.
    public static func canonicalize(headers: [HeaderField]) -> (canonicalHeaders: String, signedHeaders: String) {
        var byName: [String: String] = [:]
        for header in headers {
            byName[header.name.lowercased().trimmingWhitespace] = header.value.trimmingWhitespace.lowercased()
        }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!)\n" }.joined()
        return (canonicalHeaders, names.joined(separator: ";"))
    }

    /// `YYYY-MM-DD` of the timestamp in UTC (not local time: a classic source of midnight-only failures).
    public static func utcDate(_ timestamp: Int64) -> String {
        if let parts = UTCDate.parts(timestamp) { return UTCDate.date(parts) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(timestamp)))
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}

/// The parts of a TC3 `Authorization` header, as a server reads it.
public struct TencentTC3Authorization: Sendable, Hashable {
    public var secretID: String
    public var date: String
    public var service: String
    public var signedHeaders: [String]
    public var signature: String

    /// Parses `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=a;b, Signature=<hex>`.
    public init?(header: String) {
        let prefix = TencentTC3Signer.algorithm + " "
        guard header.hasPrefix(prefix) else { return nil }
        var parts: [String: String] = [:]
        for part in header.dropFirst(prefix.count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            parts[String(pair[0])] = String(pair[1])
        }
        guard let credential = parts["Credential"], let signedHeaders = parts["SignedHeaders"],
              let signature = parts["Signature"] else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 4, scope[3] == "tc3_request", !scope[0].isEmpty else { return nil }
        self.secretID = scope[0]
        self.date = scope[1]
        self.service = scope[2]
        self.signedHeaders = signedHeaders.split(separator: ";").map(String.init)
        self.signature = signature
    }
}
