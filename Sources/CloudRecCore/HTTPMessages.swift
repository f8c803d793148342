/// A vendor request as a value: built by a vendor client, sent by the poller's transport (or handed straight to a
/// simulator in tests). Keeping it transport-free is what lets signers be unit-tested byte for byte.
public struct OutboundRequest: Sendable, Hashable {
    public var method: String
    /// Absolute URL including the query string, exactly as signed.
    public var url: String
    public var headers: [HeaderField]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [HeaderField] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct HeaderField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A vendor's HTTP answer, with header names lower-cased.
public struct InboundResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Seconds the vendor asks us to wait, from `Retry-After` (HTTP, delta-seconds; vendors here send no HTTP dates)
    /// or Alibaba's `x-acs-retry-after` (**milliseconds**), nil when neither holds a usable value. See `RetryAfter`.
    public var retryAfterSeconds: Double? {
        if let seconds = header("retry-after").flatMap(RetryAfter.seconds(fromDeltaSeconds:)) { return seconds }
        return header("x-acs-retry-after").flatMap(RetryAfter.seconds(fromAlibabaMilliseconds:))
    }
}

/// Checked readings of back-off headers: no value from a vendor can trap (huge, negative, fractional, `inf`, `nan`).
public enum RetryAfter {
    /// `Retry-After` accepts 0 < value ≤ 3600 s (longer waits are clamped to an hour; the poller caps its pause lower).
    public static let maxDeltaSeconds: Double = 3600
    /// `x-acs-retry-after`: the official SDK reads it as an integer number of milliseconds, ignores values ≤ 0 and
    /// caps the wait at 120,000 ms (alibabacloud_tea_openapi/utils.py `get_throttling_time_left`;
    /// darabonba/policy/retry.py `MAX_DELAY_TIME = 120 * 1000`, `min(retry_after, max_delay)`; darabonba/core.py
    /// `sleep(millisecond)`). Same here: digits only, 1…120,000 ms, larger values clamped to 120,000.
    public static let maxAlibabaMilliseconds = 120_000

    public static func seconds(fromDeltaSeconds text: String) -> Double? {
        guard let value = CheckedNumber.finite(text.trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
        return CheckedNumber.clamped(value, to: 0...maxDeltaSeconds)
    }

    public static func seconds(fromAlibabaMilliseconds text: String) -> Double? {
        let digits = text.trimmingCharacters(in: .whitespaces)
        // Digits only, as Python's int() reads it (no fraction, exponent or sign); a number too long for Int is over
        // the cap anyway.
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        let milliseconds = min(Int(digits) ?? Int.max, maxAlibabaMilliseconds)
        guard milliseconds > 0 else { return nil }
        return Double(milliseconds) / 1000
    }
}

/// Sends vendor requests. The exporter uses AsyncHTTPClient; unit tests hand requests straight to a simulator.
public protocol VendorTransport: Sendable {
    /// Throws `TransportFailure` for timeouts, oversized answers and connection problems.
    func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse
    /// The transport to use for one account, with its per-account settings applied (`tls_ca_file`). The default
    /// is the transport itself.
    func forAccount(_ account: AccountSpec) -> any VendorTransport
}

public extension VendorTransport {
    func forAccount(_ account: AccountSpec) -> any VendorTransport { self }
}

public enum TransportFailure: Error, Sendable, Hashable, CustomStringConvertible {
    case timeout
    case responseTooLarge(limit: Int)
    case connection(String)

    public var description: String {
        switch self {
        case .timeout: return "request timed out"
        case let .responseTooLarge(limit): return "response larger than \(limit) bytes"
        case let .connection(reason): return "connection failed: \(reason)"
        }
    }
}
