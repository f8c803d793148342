import CloudRecCore
import Foundation

/// Helpers shared by the decoders: classify an HTTP status that carries no usable vendor body.
public enum HTTPStatusClass {
    public static func outcome(forStatus status: Int) -> PollOutcome {
        switch status {
        case 200..<300: return .success
        case 401, 403: return .authError
        case 404: return .notFound
        case 408: return .timeout
        case 429: return .throttled
        case 400..<500: return .clientError
        default: return .serverError
        }
    }

    /// A decode failure; the message names what was wrong, never the body (which could echo secrets).
    public static func decodeError(_ what: String, status: Int) -> PollResult {
        .failure(.decodeError, code: nil, message: "HTTP \(status): \(what)")
    }
}

/// Percent-encoding as RFC 3986 unreserved characters, which every signer here uses for query strings.
public enum PercentEncoding {
    /// Indexed by byte: a table lookup per byte instead of hashing each one into a set.
    private static let unreserved: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8 { table[Int(byte)] = true }
        return table
    }()

    public static func encode(_ string: String) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            if unreserved[Int(byte)] {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + hex2(byte)
            }
        }
        return out
    }

    private static func hex2(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}

public enum Hex {
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// `trimmingCharacters(in: .whitespaces)`, without its cost (Foundation's, several µs on Linux) when there is
    /// nothing to trim: the first and last bytes are printable ASCII other than space. The signers canonicalize
    /// every header of every request this way.
    var trimmingWhitespace: String {
        if let first = utf8.first, let last = utf8.last, (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) { return self }
        return trimmingCharacters(in: .whitespaces)
    }

    /// Base URL without a trailing slash.
    var trimmingTrailingSlash: String {
        var s = self
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
