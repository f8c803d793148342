import CloudRecConfig
import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import Foundation
import Logging
import Synchronization

/// The Agora simulator in its own process, so its CPU does not count as the exporter's. Enforces `qps` exactly
/// (at most `qps` admitted requests in any sliding second) and serves HTTPS when given the test CA's directory.
enum SimulatorChild {
    static let appID = "0123456789abcdef0123456789abcdef"
    static let customerID = "bench-customer"
    static let customerSecret = "bench-customer-secret"

    static func taskFields(_ id: String) -> [String: String] { ["resource_id": "rid-\(id)", "mode": "mix"] }

    /// The exporter's config for polling this simulator's `tasks` seeded recordings from one account.
    static func exporterConfig(endpoint: String, rateLimit: Double, pollInterval: Double, tasks: Int, caFile: String?) -> ExporterConfig {
        let account = AccountSpec(name: "agora-bench", vendor: .agora, endpoint: endpoint, rateLimit: rateLimit,
                                  pollInterval: pollInterval, fields: ["app_id": appID],
                                  credentials: ["customer_id": Secret(customerID), "customer_secret": Secret(customerSecret)],
                                  tlsCAFile: caFile)
        var config = ExporterConfig(source: "<bench>")
        config.accounts = [account]
        config.tasks = (0..<tasks).map { index in
            let id = Fleet.taskID(index)
            return TaskSpec(account: account.name, id: id, fields: taskFields(id))
        }
        return config
    }

    /// Phase mix of the seeded recordings: all need polling (none has ended); a few are in transition.
    static func phase(_ index: Int) -> SimPhase {
        switch index % 20 {
        case 0: return .starting
        case 1: return .stopping
        case 2: return .paused
        default: return .recording
        }
    }

    /// `simulator-child --qps Q --tasks N [--tls-dir DIR] [--vendor V]`: prints `PORT <port>`, then answers `stats` on stdin
    /// with one JSON line; exits when stdin closes.
    static func main(_ arguments: [String]) async throws {
        func value(_ flag: String) -> String? {
            arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        let qps = Int(value("--qps") ?? "10") ?? 10
        let tasks = Int(value("--tasks") ?? "0") ?? 0
        let tls = value("--tls-dir").map { SimulatorTLS(certificateChainFile: $0 + "/server.pem", privateKeyFile: $0 + "/server.key") }
        var logger = Logger(label: "simulator")
        logger.logLevel = .error
        let simulator: any VendorSimulator
        let limiter: SimRateLimiter
        if let vendor = value("--vendor").flatMap(Vendor.init(rawValue:)) {
            // Another vendor's demo account (its credentials are DemoScenario's), every task recording.
            let account = PollCPUBench.simulatedAccount(vendor)
            (simulator, limiter) = (account.simulator, PollCPUBench.limiter(of: account.simulator))
            limiter.setLimit(qps)
            for index in 0..<tasks {
                let id = Fleet.taskID(index)
                simulator.book.start(id: id, fields: account.taskFields(id), phase: .recording)
                simulator.book.addFile(id, name: "\(id)_0.mp4", format: .mp4)
                simulator.book.addFile(id, name: "\(id)_0.m3u8", format: .hls)
            }
        } else {
            let agora = AgoraSimulator(book: SimTaskBook(clock: SimClock()), appID: appID, customerID: customerID,
                                       customerSecret: customerSecret, qps: qps)
            (simulator, limiter) = (agora, agora.limiter)
            for index in 0..<tasks {
                let id = Fleet.taskID(index)
                agora.book.start(id: id, fields: taskFields(id), phase: phase(index))
                agora.book.addFile(id, name: "\(id)_0.mp4", format: .mp4)
                agora.book.addFile(id, name: "\(id)_0.m3u8", format: .hls)
            }
        }
        let host = SimulatorHost(simulator: simulator, tls: tls, logger: logger)
        let stdinClosed = StdinLines { line in
            switch line {
            case "stats":
                let stats = simulator.stats.snapshot
                var object: [String: Int] = [:]
                for event in SimStats.Event.allCases { object[event.rawValue] = stats[event] ?? 0 }
                object["open_sockets"] = openSockets()
                let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data ?? Data(), as: UTF8.self))
            case let command where command.hasPrefix("qps "):
                limiter.setLimit(Int(command.dropFirst(4)) ?? qps)
                print("{}")
            default:
                print("{}")
            }
            fflush(nil)
        }
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await host.run() }
            group.addTask {
                print("PORT \(await host.port())")
                fflush(nil)
                await stdinClosed.wait()
                throw CancellationError()
            }
            _ = try? await group.next()
            group.cancelAll()
        }
        exit(0)
    }

    /// Sockets this process holds open (listening socket included): with connection reuse this stays small.
    static func openSockets() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0))?.hasPrefix("socket:") == true }.count
    }
}

/// Reads stdin lines on a dedicated thread (never a cooperative-pool thread) and signals when stdin closes.
final class StdinLines: Sendable {
    private let closed = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(_ handle: @escaping @Sendable (String) -> Void) {
        let thread = Thread { [self] in
            while let line = readLine() { handle(line.trimmingCharacters(in: .whitespaces)) }
            let waiters = closed.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.start()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let done = closed.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// The parent's handle on a simulator child process.
final class SimulatorProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private(set) var port = 0
    let tls: Bool

    init(executable: String, qps: Int, tasks: Int, tlsDirectory: String?, vendor: Vendor? = nil) throws {
        tls = tlsDirectory != nil
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["simulator-child", "--qps", String(qps), "--tasks", String(tasks)] + (tlsDirectory.map { ["--tls-dir", $0] } ?? [])
            + (vendor.map { ["--vendor", $0.rawValue] } ?? [])
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        guard let line = readLine(), line.hasPrefix("PORT "), let port = Int(line.dropFirst(5)) else {
            throw BenchError("simulator child did not report its port")
        }
        self.port = port
    }

    var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    private var pending: [UInt8] = []

    private func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            pending += chunk
        }
    }

    func command(_ text: String) -> [String: Int] {
        input.fileHandleForWriting.write(Data((text + "\n").utf8))
        guard let line = readLine(), let data = line.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Int] else { return [:] }
        return object
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
