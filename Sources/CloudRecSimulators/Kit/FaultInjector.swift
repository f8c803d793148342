import CloudRecCore
import Synchronization

/// Faults a test (or a curious demo user, through `/_sim/faults`) can switch on at run time, per endpoint.
public enum Fault: Sendable, Hashable {
    /// Answer with this HTTP status and a plain-text body (a load balancer's 500/502/503).
    case httpStatus(Int)
    /// HTTP 200 with a body that is not JSON.
    case notJSON
    /// HTTP 200 with valid JSON of the wrong shape.
    case wrongShape
    /// Wait this long before answering normally (past the exporter's request timeout: a hang).
    case delay(Double)
    /// The vendor's normal answer, its body sent a few bytes at a time at this rate (headers arrive at once).
    case slowDrip(bytesPerSecond: Int)
    /// The connection is reset (TCP RST) before any answer.
    case connectionReset
    /// The headers promise the whole body; the connection closes after half of it.
    case truncatedBody
    /// The vendor's normal answer followed by whitespace up to this many bytes: valid JSON, too large to read.
    case hugeBody(bytes: Int)
    /// Every request is refused with the vendor's own throttling answer (a burst beyond the rate limit).
    case throttle
    /// The vendor's clock is this many seconds off: signed requests fail its timestamp window (an auth error).
    case clockSkew(Double)

    /// The name used by the control API and in test output.
    public var name: String {
        switch self {
        case let .httpStatus(status): return "http_\(status)"
        case .notJSON: return "not_json"
        case .wrongShape: return "wrong_shape"
        case .delay: return "hang"
        case .slowDrip: return "slow_drip"
        case .connectionReset: return "connection_reset"
        case .truncatedBody: return "truncated_body"
        case .hugeBody: return "huge_body"
        case .throttle: return "throttle"
        case .clockSkew: return "clock_skew"
        }
    }
}

/// What the vendor logic must take into account for one request: faults that act inside the vendor (its rate
/// limiter, its clock) rather than in front of it.
public struct SimConditions: Sendable, Hashable {
    /// Added to the vendor's clock when it checks a request's timestamp.
    public var clockSkew: Double = 0
    /// The rate limiter refuses every request.
    public var throttleAll = false

    public static let normal = SimConditions()

    /// The time a timestamp check compares against.
    public func authTime(_ now: Double) -> Double { now + clockSkew }
    /// Whether the request gets through the vendor's rate limit (asked only after the auth checks, as vendors do).
    public func admits(_ limiter: SimRateLimiter, now: Double) -> Bool { !throttleAll && limiter.admit(now: now) }
}

/// The faults switched on for one simulator: one for every endpoint, or one per operation (`Action`, the
/// `x-acs-action`/`x-tc-action` header, or the last path segment, e.g. Agora's `query`). An operation's own fault
/// wins over the all-endpoints one.
public final class FaultInjector: Sendable {
    private let rules = Mutex<[String: Fault]>([:])
    private static let everyEndpoint = "*"

    public init() {}

    /// Switches `fault` on (nil: off) for `operation`, or for every endpoint when `operation` is nil.
    public func set(_ fault: Fault?, operation: String? = nil) {
        rules.withLock { $0[operation ?? Self.everyEndpoint] = fault }
    }

    public func clearAll() { rules.withLock { $0.removeAll() } }

    /// The fault for every endpoint.
    public var active: Fault? { rules.withLock { $0[Self.everyEndpoint] } }

    /// Every switched-on fault by operation (`*`: every endpoint).
    public var all: [String: Fault] { rules.withLock { $0 } }

    public func fault(for request: SimRequest) -> Fault? {
        rules.withLock { rules in
            guard !rules.isEmpty else { return nil }
            return rules[request.operation] ?? rules[Self.everyEndpoint]
        }
    }

    /// The answer for `request` with its fault applied around (or instead of) the vendor's own answer.
    func respond(to request: SimRequest, vendor: (SimConditions) -> SimResponse) -> (SimResponse, faulted: Bool) {
        guard let fault = fault(for: request) else { return (vendor(.normal), false) }
        var response: SimResponse
        switch fault {
        case let .httpStatus(status):
            return (SimResponse(status: status, headers: ["content-type": "text/plain"], body: Array("injected fault \(status)".utf8)), true)
        case .notJSON:
            return (SimResponse(status: 200, headers: ["content-type": "text/html"], body: Array("<html>gateway says hi</html>".utf8)), true)
        case .wrongShape:
            return (.json(200, .array([.string("unexpected"), .number(42)])), true)
        case .connectionReset:
            response = SimResponse(status: 200)
            response.delivery = .reset
            return (response, true)
        case .throttle:
            return (vendor(SimConditions(throttleAll: true)), true)
        case let .clockSkew(seconds):
            return (vendor(SimConditions(clockSkew: seconds)), true)
        case let .delay(seconds):
            response = vendor(.normal)
            response.delaySeconds = max(response.delaySeconds, seconds)
        case let .slowDrip(rate):
            response = vendor(.normal)
            response.delivery = .drip(bytesPerSecond: max(1, rate))
        case .truncatedBody:
            response = vendor(.normal)
            response.delivery = .truncate
        case let .hugeBody(bytes):
            response = vendor(.normal)
            response.paddingBytes = max(0, bytes - response.body.count)
        }
        return (response, true)
    }
}
