import CloudRecCore
import CloudRecSimulators
import Synchronization

/// Hands requests straight to a simulator (no sockets) and counts calls per task; tests await a call count
/// instead of sleeping.
public final class CountingSimulatorTransport: VendorTransport {
    public let simulator: any VendorSimulator
    private struct State {
        var perTask: [String: Int] = [:]
        var total = 0
        var waiters: [(Int, CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())

    public init(simulator: any VendorSimulator) { self.simulator = simulator }

    public func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse {
        let simRequest = SimRequest(request)
        let response = simulator.respond(to: simRequest)
        // Agora: /v1/apps/{appid}/cloud_recording/resourceid/{rid}/sid/{sid}/mode/{mode}/query
        let segments = simRequest.path.split(separator: "/")
        let task = segments.count > 7 ? String(segments[7]) : simRequest.path
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.perTask[task, default: 0] += 1
            s.total += 1
            let (done, waiting) = (s.waiters.filter { $0.0 <= s.total }, s.waiters.filter { $0.0 > s.total })
            s.waiters = waiting
            return done.map(\.1)
        }
        for waiter in ready { waiter.resume() }
        return try response.received(timeout: timeout, maxResponseBytes: maxResponseBytes)
    }

    public var counts: [String: Int] { state.withLock { $0.perTask } }
    public var total: Int { state.withLock { $0.total } }

    /// Returns once at least `total` calls were made.
    public func wait(forTotal target: Int) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { s -> Bool in
                if s.total >= target { return true }
                s.waiters.append((target, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }
}
