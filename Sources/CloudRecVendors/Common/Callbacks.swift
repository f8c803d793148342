import CloudRecCore
import Crypto
import Foundation
import Synchronization

/// A vendor's recording callbacks: verify the signature the way the vendor documents it, then decode the body into
/// vendor-neutral events. Pure (no clock, no state): the replay window and duplicate detection are in
/// `CallbackReplayGuard`, which works on what `open` returns.
public protocol VendorCallbackHandler: Sendable {
    var vendor: Vendor { get }
    /// The 200 body the vendor expects back.
    var acknowledgement: JSONValue { get }
    /// Verifies, then decodes. Vendors that sign the raw body or a header are verified before the body is parsed;
    /// ZEGO carries its signature inside the JSON, so its body is parsed first.
    func open(_ request: CallbackRequest, secret: String) throws(CallbackRejection) -> DecodedCallback
}

/// The credential that holds a callback secret. Which vendors send verifiable callbacks is each `VendorSchema`'s
/// `callbackHandler` (nil for Alibaba IMS, whose callback body and signature are not documented).
public enum VendorCallbacks {
    /// The optional per-account credential (inline, `${ENV}` or `callback_secret_file`). At the vendors it is the
    /// NCS secret (Agora), `callbacksecret` (ZEGO), the callback key (Tencent) and `NotifyAuthKey` (Alibaba Live).
    public static let secretField = "callback_secret"
}

public extension VendorSchema {
    /// Credentials an account may give but does not need: the callback secret, for vendors whose callbacks we verify.
    var optionalCredentialFields: [String] {
        callbackHandler == nil ? [] : [VendorCallbacks.secretField]
    }
}

/// Helpers the callback handlers share.
public enum CallbackSupport {
    /// Compares without an early exit, so timing does not reveal how much of a forged signature was right.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// The body as a JSON object, or `malformed`.
    public static func object(_ body: [UInt8]) throws(CallbackRejection) -> JSONValue {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw .malformed("body is not valid JSON") }
        guard json.isObject else { throw .malformed("body is not a JSON object") }
        return json
    }

    /// Signed callback times are Unix seconds from 2000-01-01 to 2100-01-01. A time outside this range (`1e99`,
    /// `inf`, `-1e300`), not a number (`nan`) or missing cannot be checked against the replay window, so such a
    /// callback is refused (400) before anything is applied: accepting it would let its replay through once the
    /// replay memory forgot it.
    public static let signedTimeRange: ClosedRange<Double> = 946_684_800...4_102_444_800

    /// `seconds` (already in seconds) checked against `signedTimeRange`; `field` names it in the refusal.
    public static func signedTime(_ seconds: Double?, field: String) throws(CallbackRejection) -> Double {
        guard let seconds else { throw .malformed("\(field) missing: the callback's time cannot be checked") }
        guard let checked = CheckedNumber.within(seconds, signedTimeRange) else {
            throw .malformed("\(field) out of range (Unix time from 2000 to 2100 expected)")
        }
        return checked
    }

    /// A signed time written as text (a header, ZEGO's string `timestamp`), in seconds or milliseconds.
    public static func signedTime(text: String, milliseconds: Bool = false, field: String) throws(CallbackRejection) -> Double {
        guard let value = CheckedNumber.finite(text) else { throw .malformed("\(field) is not a finite number") }
        return try signedTime(milliseconds ? value / 1000 : value, field: field)
    }

    /// Duplicate key for the exact signed bytes.
    public static func digestKey(_ bytes: [UInt8]) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: bytes))
    }

    /// A documented event number as its label value, `other` for anything else.
    public static func label(_ value: Int?, documented: Set<Int>) -> String {
        guard let value, documented.contains(value) else { return "other" }
        return String(value)
    }

    /// A file named in a callback; the format comes from the name (or an explicit format field).
    public static func file(name: String, format: String? = nil, state: UploadState?, sizeBytes: Int64? = nil,
                            durationSeconds: Double? = nil) -> RecordingFile {
        RecordingFile(name: name, format: format.map(FileFormat.init(vendorValue:)) ?? FileFormat(vendorValue: name),
                      uploadState: state, sizeBytes: sizeBytes, durationSeconds: durationSeconds)
    }
}

extension JSONValue {
    /// A string (or number) value that is not empty.
    var nonEmptyString: String? {
        switch self {
        case .string, .number: return stringValue.flatMap { $0.isEmpty ? nil : $0 }
        default: return nil
        }
    }
}

/// Replay protection for one account's callbacks: a timestamp window where the vendor signs a timestamp, and a
/// bounded set of recently accepted callback identities (notice ids, nonces, digests), each kept at least as long
/// as the window lets its timestamp pass. When more than `capacity` callbacks arrive within one window the oldest
/// identities are forgotten first (a replay of one of those would pass, inside the window only).
public final class CallbackReplayGuard: Sendable {
    public enum Verdict: Sendable, Hashable {
        case fresh
        /// The signed timestamp is further than the window from our clock.
        case outsideWindow(skewSeconds: Double)
        /// No signed time, or one that is not a finite number: the window cannot be checked, so it is refused.
        case timeUnknown
        case duplicate
    }

    /// Ten minutes: longer than every vendor's retry schedule (Tencent retries until a message is 1 min old, ZEGO
    /// twice 5 s apart, Agora three times), short enough to bound replays.
    public static let defaultWindow: Double = 600
    public static let defaultCapacity = 50_000

    fileprivate struct State {
        var expiry: [String: Double] = [:]
        var order: [(key: String, expiry: Double)] = []
        var head = 0
    }

    public let window: Double
    public let capacity: Int
    private let state = Mutex(State())

    public init(window: Double = CallbackReplayGuard.defaultWindow, capacity: Int = CallbackReplayGuard.defaultCapacity) {
        self.window = window
        self.capacity = max(1, capacity)
    }

    /// Checks a verified callback and, when fresh, remembers its identities.
    public func admit(_ callback: DecodedCallback, now: Double) -> Verdict {
        guard let signed = callback.signedTime, signed.isFinite else { return .timeUnknown }
        if abs(now - signed) > window { return .outsideWindow(skewSeconds: now - signed) }
        // Kept until the signed time leaves the window: a replay after that is refused by the window itself.
        let keep = max(now, signed) + window
        return state.withLock { s in
            s.dropExpired(now: now)
            if callback.replayKeys.contains(where: { s.expiry[$0] != nil }) { return .duplicate }
            for key in Set(callback.replayKeys) {
                s.expiry[key] = keep
                s.order.append((key, keep))
            }
            while s.expiry.count > capacity { s.evictOldest() }
            s.compact()
            return .fresh
        }
    }

    /// Forgets a callback admitted a moment ago whose effect could not be stored, so the vendor's retry is taken.
    public func forget(_ callback: DecodedCallback) {
        state.withLock { s in for key in callback.replayKeys { s.expiry.removeValue(forKey: key) } }
    }

    public var count: Int { state.withLock { $0.expiry.count } }
}

private extension CallbackReplayGuard.State {
    mutating func dropExpired(now: Double) {
        while head < order.count, order[head].expiry < now {
            if expiry[order[head].key] == order[head].expiry { expiry.removeValue(forKey: order[head].key) }
            head += 1
        }
    }

    mutating func evictOldest() {
        while head < order.count {
            let entry = order[head]
            head += 1
            if expiry[entry.key] == entry.expiry {
                expiry.removeValue(forKey: entry.key)
                return
            }
        }
    }

    mutating func compact() {
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
