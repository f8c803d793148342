import CloudRecCore
import Crypto
import Foundation

/// Which of Alibaba Cloud's two RPC signatures an account uses (account field `signature_version`).
public enum AlibabaSignatureVersion: String, Sendable, CaseIterable {
    /// `ACS3-HMAC-SHA256` in the `Authorization` header: what the current official SDKs send by default.
    case v3
    /// HMAC-SHA1 over the query string, sent as the `Signature` query parameter (the SDKs' `signature_algorithm='v2'`).
    case rpcV1 = "rpc_v1"

    public static let fieldName = "signature_version"
    public static let `default` = AlibabaSignatureVersion.v3
}

/// RPC signature v1: `Base64(HMAC-SHA1(secret + "&", METHOD&%2F&enc(canonicalized query)))`.
/// Each step is its own function so tests can compare the published intermediate strings.
public enum AlibabaRPCv1Signature {
    public static let signatureMethod = "HMAC-SHA1"
    public static let signatureVersion = "1.0"

    /// Every parameter except `Signature`, names and values RFC 3986-encoded, sorted by encoded name, joined with `&`.
    public static func canonicalizedQuery(_ parameters: [(String, String)]) -> String {
        AlibabaCanonicalQuery.encode(parameters)
    }

    /// The method is signed too: the same parameters give different signatures for GET and POST.
    public static func stringToSign(method: String, canonicalizedQuery: String) -> String {
        method.uppercased() + "&" + PercentEncoding.encode("/") + "&" + PercentEncoding.encode(canonicalizedQuery)
    }

    public static func sign(stringToSign: String, accessKeySecret: String) -> String {
        let key = SymmetricKey(data: Array((accessKeySecret + "&").utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8), using: key)
        return Data(mac).base64EncodedString()
    }

    public static func signature(method: String, parameters: [(String, String)], accessKeySecret: String) -> String {
        sign(stringToSign: stringToSign(method: method, canonicalizedQuery: canonicalizedQuery(parameters)),
             accessKeySecret: accessKeySecret)
    }
}

/// Signature V3 `ACS3-HMAC-SHA256`: a canonical request (method, path, query, signed headers, body hash) is hashed,
/// and the hash is signed with HMAC-SHA256 keyed by the plain secret (no `&`, unlike v1).
public enum AlibabaV3Signature {
    public static let algorithm = "ACS3-HMAC-SHA256"
    public static let contentHashHeader = "x-acs-content-sha256"

    /// Lower-case hex SHA-256 of the raw body (`e3b0c442…` for an empty one).
    public static func payloadHash(_ body: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: body))
    }

    /// Header names lower-cased, values trimmed, sorted by name; `name:value\n` lines and the `;`-joined names.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signedHeaders: String) {
        let normalized = headers
            .map { (name: $0.0.lowercased(), value: $0.1.trimmingWhitespace) }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let canonical = normalized.map { "\($0.name):\($0.value)\n" }.joined()
        return (canonical, normalized.map(\.name).joined(separator: ";"))
    }

    /// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nPAYLOAD`; the header block ends in `\n`, so a blank line follows it.
    public static func canonicalRequest(method: String, path: String, query: [(String, String)],
                                        headers: [(String, String)], payloadHash: String) -> String {
        let (canonical, signed) = canonicalHeaders(headers)
        return [method.uppercased(), path.isEmpty ? "/" : path, AlibabaCanonicalQuery.encode(query),
                canonical, signed, payloadHash].joined(separator: "\n")
    }

    public static func stringToSign(canonicalRequest: String) -> String {
        algorithm + "\n" + Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))
    }

    public static func sign(stringToSign: String, accessKeySecret: String) -> String {
        let key = SymmetricKey(data: Array(accessKeySecret.utf8))
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    public static func authorization(accessKeyID: String, signedHeaders: String, signature: String) -> String {
        "\(algorithm) Credential=\(accessKeyID),SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    /// The three parts of an `Authorization` header, or nil when it is not a well-formed V3 one.
    public static func parseAuthorization(_ header: String) -> (accessKeyID: String, signedHeaders: [String], signature: String)? {
        let prefix = algorithm + " "
        guard header.hasPrefix(prefix) else { return nil }
        var parts: [String: String] = [:]
        for item in header.dropFirst(prefix.count).split(separator: ",") {
            let pair = item.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            parts[String(pair[0])] = String(pair[1])
        }
        guard let credential = parts["Credential"], let signed = parts["SignedHeaders"], let signature = parts["Signature"],
              !credential.isEmpty, !signed.isEmpty, !signature.isEmpty else { return nil }
        return (credential, signed.split(separator: ";").map(String.init), signature)
    }
}

/// The query canonicalisation both signatures share: RFC 3986 on names and values, sorted by encoded name.
enum AlibabaCanonicalQuery {
    static func encode(_ parameters: [(String, String)]) -> String {
        parameters
            .map { (PercentEncoding.encode($0.0), PercentEncoding.encode($0.1)) }
            .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}

/// The gateway's timestamp form, `yyyy-MM-ddTHH:mm:ssZ` in UTC, for `Timestamp` (v1) and `x-acs-date` (V3).
public enum AlibabaTimestamp {
    private static let style = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)

    public static func format(_ date: Date) -> String {
        if let seconds = CheckedNumber.truncated(date.timeIntervalSince1970.rounded(.down)), let parts = UTCDate.parts(seconds) {
            return UTCDate.iso8601(parts)
        }
        return Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(style)
    }

    public static func parse(_ text: String) -> Date? {
        try? style.parse(text)
    }
}
