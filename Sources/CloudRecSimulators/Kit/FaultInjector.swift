import CloudRecCore
import Synchronization

/// Faults a test can switch on at run time, ahead of the vendor logic.
public enum Fault: Sendable, Hashable {
    /// Answer with this HTTP status and a plain-text body.
    case httpStatus(Int)
    /// HTTP 200 with a body that is not JSON.
    case notJSON
    /// HTTP 200 with valid JSON of the wrong shape.
    case wrongShape
    /// Wait this long before answering normally (past the exporter's request timeout: a hang).
    case delay(Double)
}

public final class FaultInjector: Sendable {
    private let current = Mutex<Fault?>(nil)

    public init() {}

    public func set(_ fault: Fault?) { current.withLock { $0 = fault } }
    public var active: Fault? { current.withLock { $0 } }

    /// The injected response, or nil to let the vendor logic answer. A delay fault answers via the server's wait.
    func response(for request: SimRequest) -> SimResponse? {
        switch active {
        case nil, .delay?: return nil
        case let .httpStatus(status)?:
            return SimResponse(status: status, headers: ["content-type": "text/plain"], body: Array("injected fault \(status)".utf8))
        case .notJSON?:
            return SimResponse(status: 200, headers: ["content-type": "text/html"], body: Array("<html>gateway says hi</html>".utf8))
        case .wrongShape?:
            return .json(200, .array([.string("unexpected"), .number(42)]))
        }
    }

    public var delaySeconds: Double {
        if case let .delay(seconds)? = active { return seconds }
        return 0
    }
}
