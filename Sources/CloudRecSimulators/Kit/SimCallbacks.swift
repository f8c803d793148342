import CloudRecCore
import Foundation
import Synchronization

/// A vendor-neutral moment in a simulated task's life that the vendor reports by callback.
public enum SimCallbackEvent: Sendable, Hashable {
    /// The recording started (ZEGO documents no start callback: none is built).
    case started
    /// The task ended: normally or abnormally, as its phase says (nothing is built while it runs).
    case exited
    /// The upload outcome of the task's files that are done uploading (uploaded, backup, failed).
    case uploads
}

/// A callback request as the vendor would send it: POST, these headers, these exact bytes.
public struct SimCallbackRequest: Sendable {
    public var headers: [String: String]
    public var body: [UInt8]

    public init(headers: [String: String], body: [UInt8]) {
        self.headers = headers
        self.body = body
    }

    public var headerList: [(String, String)] { headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
}

/// Simulators that can send the vendor's recording callbacks, signed with `secret` exactly as the vendor signs them,
/// so tests exercise the exporter's real verification. Timestamps come from the simulator's clock.
public protocol CallbackSimulating: VendorSimulator {
    func callbackRequests(_ event: SimCallbackEvent, taskID: String, secret: String) -> [SimCallbackRequest]
}

/// Increasing sequence numbers for simulated callbacks (vendors number a task's callbacks from 0).
enum SimCallbackSequence {
    private static let next = Atomic<Int>(0)
    static func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}
