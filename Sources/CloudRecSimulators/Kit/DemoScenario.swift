import CloudRecCore
import Foundation

/// A simulated vendor account as the demo, the integration tests and the benchmarks use it: the simulator plus
/// the account fields and credentials an exporter config needs to reach it.
public struct SimulatedAccount: Sendable {
    public var name: String
    public var vendor: Vendor
    public var simulator: any VendorSimulator
    /// Account fields for the config (`app_id`, `region`...).
    public var fields: [String: String]
    public var credentials: [String: String]
    /// Vendor task fields for a task id (Agora needs `resource_id` and `mode`).
    public var taskFields: @Sendable (String) -> [String: String]

    public init(name: String, vendor: Vendor, simulator: any VendorSimulator, fields: [String: String],
                credentials: [String: String], taskFields: @escaping @Sendable (String) -> [String: String] = { _ in [:] }) {
        self.name = name
        self.vendor = vendor
        self.simulator = simulator
        self.fields = fields
        self.credentials = credentials
        self.taskFields = taskFields
    }

    public var book: SimTaskBook { simulator.book }
}

/// Drives believable lifecycles in a simulated account: recordings that start, grow files, pause, stop, exit
/// abnormally, upload to storage, to backup only, or fail to upload; and a steady trickle of new recordings.
public struct DemoScenario: Sendable {
    public let account: SimulatedAccount
    /// Seconds a task spends starting or stopping before it moves on.
    public var transitionSeconds: Double = 20
    /// A new recording starts (and an old one stops) this often.
    public var churnSeconds: Double = 60

    public init(account: SimulatedAccount) { self.account = account }

    private var book: SimTaskBook { account.book }

    public func taskID(_ number: Int) -> String { "demo-\(account.vendor.rawValue)-\(String(format: "%04d", number))" }

    /// A recording the churn started (not a seeded one, nor one created through the simulator's control API).
    func isChurned(_ id: String) -> Bool { id.hasPrefix("demo-\(account.vendor.rawValue)-") && id > taskID(99) }

    /// Creates the initial tasks, one of each interesting kind. Returns their ids.
    @discardableResult
    public func seed() -> [String] {
        let kinds: [(SimPhase, UploadState?)] = [
            (.recording, nil), (.recording, nil), (.starting, nil), (.paused, nil), (.stopping, .uploading),
            (.ended, .uploaded), (.exitedAbnormally, .uploaded), (.ended, .failed), (.ended, .backupUploaded),
        ]
        var ids: [String] = []
        for (index, kind) in kinds.enumerated() {
            let id = taskID(index + 1)
            book.start(id: id, fields: account.taskFields(id), phase: kind.0)
            if kind.0 != .starting {
                book.addFile(id, name: "\(id)_0.mp4", format: .mp4, uploadState: kind.1 ?? .recording,
                             sizeBytes: Int64(20_000_000 + index * 3_000_000), durationSeconds: Double(120 + index * 30))
                book.addFile(id, name: "\(id)_0.m3u8", format: .hls, uploadState: kind.1 ?? .recording,
                             sizeBytes: 400_000, durationSeconds: Double(120 + index * 30))
            }
            if kind.0.hasEnded { book.setPhase(id, kind.0) }
            ids.append(id)
        }
        return ids
    }

    /// Moves every task along by `elapsed` seconds. Returns the ids of recordings started by this step.
    public func advance(now: Double, elapsed: Double, step: Int) -> [String] {
        var started: [String] = []
        for task in book.all {
            let age = now - task.startTime
            switch task.phase {
            case .recording:
                book.update(task.id) { t in
                    for i in t.files.indices {
                        t.files[i].sizeBytes += Int64(elapsed * 180_000)
                        t.files[i].durationSeconds += elapsed
                    }
                }
            case .starting where age >= transitionSeconds:
                book.setPhase(task.id, .recording)
                book.addFile(task.id, name: "\(task.id)_0.mp4", format: .mp4, sizeBytes: 100_000, durationSeconds: 1)
            case .stopping where now - (task.endTime ?? task.startTime) >= transitionSeconds || age >= 2 * transitionSeconds:
                book.setUploadState(task.id, .uploaded)
                book.setPhase(task.id, .ended)
            default:
                break
            }
        }
        // Churn: every `churnSeconds` a new recording starts and the oldest churned one stops.
        let everySteps = max(1, Int(churnSeconds / max(elapsed, 0.001)))
        if step > 0, step % everySteps == 0 {
            let number = 100 + step / everySteps
            let id = taskID(number)
            book.start(id: id, fields: account.taskFields(id), phase: .starting)
            started.append(id)
            let churned = book.all.filter { $0.phase == .recording && isChurned($0.id) }
            if let oldest = churned.min(by: { $0.startTime < $1.startTime }), churned.count > 2 {
                book.setUploadState(oldest.id, .uploading)
                book.setPhase(oldest.id, .stopping)
                book.update(oldest.id) { $0.endTime = now }
            }
            // Forget long-ended tasks so the simulator stays small.
            for task in book.all where task.phase.hasEnded && now - (task.endTime ?? now) > 1800 && isChurned(task.id) {
                book.remove(task.id)
            }
        }
        return started
    }
}

/// The simulated accounts of every vendor, with fixed demo credentials.
public enum SimulatorFleet {
    public static func demoAccounts(clock: SimClock = SimClock()) -> [SimulatedAccount] {
        [AgoraSimulator.demoAccount(clock: clock), ZegoSimulator.demoAccount(clock: clock),
         TencentTRTCSimulator.demoAccount(clock: clock), AlibabaLiveSimulator.demoAccount(clock: clock),
         AlibabaIMSSimulator.demoAccount(clock: clock)]
    }
}

public extension AgoraSimulator {
    /// `qps` and `endedLingerSeconds` default to the simulator's (the vendor's documented limit, a short linger).
    static func demoAccount(clock: SimClock, name: String = "agora-demo", qps: Int = 10, endedLingerSeconds: Double = 5) -> SimulatedAccount {
        let credentials = ["customer_id": "demo-customer", "customer_secret": "demo-customer-secret"]
        let simulator = AgoraSimulator(book: SimTaskBook(clock: clock), appID: "0123456789abcdef0123456789abcdef",
                                       customerID: credentials["customer_id"]!, customerSecret: credentials["customer_secret"]!,
                                       qps: qps, endedLingerSeconds: endedLingerSeconds)
        return SimulatedAccount(name: name, vendor: .agora, simulator: simulator, fields: ["app_id": simulator.appID],
                                credentials: credentials,
                                taskFields: { id in ["resource_id": "rid-\(id)", "mode": "mix"] })
    }
}

public extension ZegoSimulator {
    static func demoAccount(clock: SimClock, name: String = "zego-demo") -> SimulatedAccount {
        let simulator = ZegoSimulator(book: SimTaskBook(clock: clock), appID: "1234567890", serverSecret: "demo0server0secret0000000000000a")
        return SimulatedAccount(name: name, vendor: .zego, simulator: simulator, fields: ["app_id": simulator.appID],
                                credentials: ["server_secret": simulator.serverSecret])
    }
}

public extension TencentTRTCSimulator {
    static func demoAccount(clock: SimClock, name: String = "tencent-demo") -> SimulatedAccount {
        let simulator = TencentTRTCSimulator(book: SimTaskBook(clock: clock), sdkAppID: "1400000001",
                                             secretID: "AKIDdemo00000000000000000000000000", secretKey: "demo0secret0key00000000000000000")
        return SimulatedAccount(name: name, vendor: .tencentTRTC, simulator: simulator,
                                fields: ["region": "ap-guangzhou", "sdk_app_id": simulator.sdkAppID],
                                credentials: ["secret_id": simulator.secretID, "secret_key": simulator.secretKey])
    }
}

/// Alibaba's two products share the account shape: region and an AccessKey pair.
private func alibabaDemoAccount(name: String, vendor: Vendor, keyDigit: Character,
                                make: (String, String) -> any VendorSimulator) -> SimulatedAccount {
    let credentials = ["access_key_id": "LTAIdemo" + String(repeating: keyDigit, count: 16),
                       "access_key_secret": "demo\(keyDigit)access\(keyDigit)key\(keyDigit)secret" + String(repeating: keyDigit, count: 10)]
    return SimulatedAccount(name: name, vendor: vendor, simulator: make(credentials["access_key_id"]!, credentials["access_key_secret"]!),
                            fields: ["region": "cn-shanghai"], credentials: credentials)
}

public extension AlibabaLiveSimulator {
    static func demoAccount(clock: SimClock, name: String = "alibaba-live-demo") -> SimulatedAccount {
        alibabaDemoAccount(name: name, vendor: .alibabaLive, keyDigit: "0") {
            AlibabaLiveSimulator(book: SimTaskBook(clock: clock), accessKeyID: $0, accessKeySecret: $1)
        }
    }
}

public extension AlibabaIMSSimulator {
    static func demoAccount(clock: SimClock, name: String = "alibaba-ims-demo") -> SimulatedAccount {
        alibabaDemoAccount(name: name, vendor: .alibabaIMS, keyDigit: "1") {
            AlibabaIMSSimulator(book: SimTaskBook(clock: clock), accessKeyID: $0, accessKeySecret: $1)
        }
    }
}
