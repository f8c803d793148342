import CloudRecCore
import Foundation
import Synchronization

/// Vendor-neutral lifecycle phase of a simulated recording. Each vendor simulator renders it in its own enum.
public enum SimPhase: String, Sendable, CaseIterable {
    case starting
    case recording
    case paused
    case stopping
    /// Ended normally.
    case ended
    /// Ended abnormally (crash, login failure, storage misconfiguration...).
    case exitedAbnormally = "exited_abnormally"

    public var hasEnded: Bool { self == .ended || self == .exitedAbnormally }
}

public struct SimFile: Sendable, Hashable {
    public var name: String
    public var format: FileFormat
    public var uploadState: UploadState
    public var sizeBytes: Int64
    public var durationSeconds: Double
    public var startTime: Double

    public init(name: String, format: FileFormat, uploadState: UploadState = .recording, sizeBytes: Int64 = 0,
                durationSeconds: Double = 0, startTime: Double) {
        self.name = name
        self.format = format
        self.uploadState = uploadState
        self.sizeBytes = sizeBytes
        self.durationSeconds = durationSeconds
        self.startTime = startTime
    }
}

public struct SimTask: Sendable, Hashable {
    public var id: String
    /// Vendor fields the request must match (`resource_id`, `mode`, `sdk_app_id`, `room_id`...).
    public var fields: [String: String]
    public var phase: SimPhase
    public var files: [SimFile]
    public var startTime: Double
    public var endTime: Double?
    /// Vendor-specific conditions: `idle` (Tencent: nobody publishing), `recovering` (Alibaba Live).
    public var flags: Set<String>
    /// While the clock is before this time the vendor answers "not found" (Agora failover 404s).
    public var hiddenUntil: Double?

    public init(id: String, fields: [String: String] = [:], phase: SimPhase = .starting, files: [SimFile] = [],
                startTime: Double, endTime: Double? = nil, flags: Set<String> = [], hiddenUntil: Double? = nil) {
        self.id = id
        self.fields = fields
        self.phase = phase
        self.files = files
        self.startTime = startTime
        self.endTime = endTime
        self.flags = flags
        self.hiddenUntil = hiddenUntil
    }
}

/// The tasks one simulator knows. Tests and the demo drive lifecycles through it; simulators only read it.
public final class SimTaskBook: Sendable {
    private let tasks = Mutex<[String: SimTask]>([:])
    public let clock: SimClock

    public init(clock: SimClock) { self.clock = clock }

    public func put(_ task: SimTask) { tasks.withLock { $0[task.id] = task } }

    @discardableResult
    public func start(id: String, fields: [String: String] = [:], phase: SimPhase = .recording,
                      files: [SimFile] = []) -> SimTask {
        let task = SimTask(id: id, fields: fields, phase: phase, files: files, startTime: clock.now())
        put(task)
        return task
    }

    public func update(_ id: String, _ change: (inout SimTask) -> Void) {
        tasks.withLock { all in
            guard var task = all[id] else { return }
            change(&task)
            all[id] = task
        }
    }

    public func setPhase(_ id: String, _ phase: SimPhase) {
        let now = clock.now()
        update(id) { task in
            task.phase = phase
            if phase.hasEnded, task.endTime == nil { task.endTime = now }
        }
    }

    public func addFile(_ id: String, name: String, format: FileFormat, uploadState: UploadState = .recording,
                        sizeBytes: Int64 = 1_000_000, durationSeconds: Double = 60) {
        let now = clock.now()
        update(id) { $0.files.append(SimFile(name: name, format: format, uploadState: uploadState, sizeBytes: sizeBytes,
                                               durationSeconds: durationSeconds, startTime: now)) }
    }

    public func setUploadState(_ id: String, _ state: UploadState, fileIndex: Int? = nil) {
        update(id) { task in
            for index in task.files.indices where fileIndex == nil || fileIndex == index {
                task.files[index].uploadState = state
            }
        }
    }

    public func remove(_ id: String) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
    /// Also notes the id on the request being answered, for the request log (`SimRequestTrace`).
    public func task(_ id: String) -> SimTask? {
        SimRequestTrace.current?.noteTask(id)
        return tasks.withLock { $0[id] }
    }
    public var all: [SimTask] { tasks.withLock { Array($0.values) }.sorted { $0.id < $1.id } }
    public var count: Int { tasks.withLock { $0.count } }
}

/// The simulators' clock. Tests shift it to fake a vendor whose clock disagrees with ours (skew rejection).
public final class SimClock: Sendable {
    private let offset = Mutex<Double>(0)

    public init() {}

    public func now() -> Double { Date().timeIntervalSince1970 + offset.withLock { $0 } }
    public func shift(by seconds: Double) { offset.withLock { $0 += seconds } }
}
