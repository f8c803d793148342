import CloudRecCore
import CloudRecMetrics
import CloudRecStorage
import Foundation
import Synchronization

/// Where the exporter learned about a task. A task known from several sources is still one task.
public enum TaskSource: String, Sendable, Hashable, CaseIterable, Codable {
    case config, api, file, discovery, callback
}

/// Everything known about one tracked task. Codable for the durable store (the last raw result is not kept).
public struct TrackedTask: Sendable, Codable {
    public var spec: TaskSpec
    public var vendor: Vendor
    public var sources: Set<TaskSource>
    public var status: TaskStatus = .unknown
    public var vendorStatus: String = ""
    public var observation: TaskObservation?
    public var lastSuccess: Double?
    public var lastPoll: Double?
    public var lastResult: PollResult?
    /// When the vendor started answering not-found for a task it had shown before.
    public var notFoundSince: Double?
    /// When the task reached a terminal state; its series are removed `ended_task_retention` later.
    public var endedAt: Double?
    /// When the task entered its current status (for `task_series: attention`: stuck in a transitional status).
    public var statusSince: Double?
    /// How the end was found (`found_by` of `cloudrec_tasks_finished_total`).
    public var endedBy: FinishCause?
    /// What of the task the fleet counters already hold (nil in rows written before they existed).
    public var counted: CountedEvents?
    /// A running task's files as of their last growth (ProgressMark.swift).
    public var progress: ProgressMark?
    /// Whether the task was stalled at its last successful poll (nil: not measurable); not stored, the next poll
    /// tells again.
    public var stalled: Bool?

    /// When the exporter first learned about the task.
    public var registeredAt: Double = 0
    /// What verified vendor callbacks said (CallbackEvidence.swift), merged with the polled state.
    public var callback: CallbackEvidence?
    /// The store row's registration version as last read (`StoredTask.registrationVersion`); not in the state document.
    public var registrationVersion: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case spec, vendor, sources, status, vendorStatus, observation, lastSuccess, lastPoll, notFoundSince, endedAt, registeredAt
        case callback, endedBy, counted, progress, statusSince
    }

    public init(spec: TaskSpec, vendor: Vendor, sources: Set<TaskSource>, registeredAt: Double = Date().timeIntervalSince1970) {
        self.spec = spec
        self.vendor = vendor
        self.sources = sources
        self.registeredAt = registeredAt
    }

    public var key: TaskKey { spec.key }
    public var everSeen: Bool { lastSuccess != nil }

    /// A finished task is still polled while its files are on their way to storage (ZEGO reports upload states
    /// after the task ended), so an upload failure after the end is still seen.
    public var needsPolling: Bool {
        guard hasPollingFields else { return false }
        guard endedAt != nil else { return true }
        guard let observation, observation.reportsUploadStates else { return false }
        return observation.files.contains { $0.uploadState == .recording || $0.uploadState == .uploading }
    }

    var export: TaskExport {
        var formats: [FileFormat: Int] = [:]
        for file in exportedFiles { formats[file.format, default: 0] += 1 }
        let uploads = mergedUploadCounts
        return TaskExport(vendor: vendor, account: spec.account, taskID: spec.id, status: status, vendorStatus: vendorStatus,
                          fileCounts: formats, uploadCounts: uploads, totalSizeBytes: observation?.totalSizeBytes,
                          recordedSeconds: observation?.totalDurationSeconds, startTime: observation?.startTime,
                          lastSuccess: lastSuccess, labels: spec.labels, stalled: status == .running ? stalled : nil)
    }

    /// Applies one poll's result. Returns true when the task just became terminal.
    mutating func apply(_ result: PollResult, now: Double, notFoundGrace: Double) -> Bool {
        lastPoll = now
        lastResult = result
        let wasEnded = endedAt != nil
        switch result.outcome {
        case .success:
            guard let observed = result.observation else { break }
            observation = observed
            status = observed.status
            vendorStatus = observed.vendorStatus
            lastSuccess = now
            notFoundSince = nil
            if status.isTerminal, endedAt == nil {
                endedAt = now
                endedBy = .vendorStatus
            }
        case .notFound:
            if everSeen, !wasEnded {
                let since = notFoundSince ?? now
                notFoundSince = since
                // Measured from the last successful answer: a vendor that forgets ended tasks (Tencent, Agora after
                // its failover window) answers not-found from then on.
                if now - (lastSuccess ?? since) >= notFoundGrace {
                    status = .completed
                    vendorStatus = result.vendorCode ?? "not_found"
                    endedAt = now
                    endedBy = .notFound
                } else {
                    status = .unknown
                    vendorStatus = result.vendorCode ?? "not_found"
                }
            } else if !everSeen {
                status = .unknown
                vendorStatus = result.vendorCode ?? "not_found"
                // Gone before we ever saw it (e.g. stopped or aged out of the vendor's query window): it cannot start
                // later, so it ends as unknown and its series go after the retention like any finished task's.
                if result.taskGone, endedAt == nil { endedAt = now }
            }
        default:
            break
        }
        applyCallbackVerdict(now: now)
        return !wasEnded && endedAt != nil
    }
}

/// All tracked tasks and their exported series. Thread-safe; the pollers, the reload path, the registration API,
/// discovery and callbacks all go through it.
public final class TaskTracker: Sendable {
    private let tasks = Mutex<[TaskKey: TrackedTask]>([:])
    public let store: TaskSeriesStore
    private let persistence: (any TaskStore)?
    /// Counters that outlive tasks; every event is counted here exactly once (CountedEvents.swift).
    public let counters: FleetCounters
    /// Finished tasks already forgotten, with their end time (only taken with the task lock held).
    private let retired = Mutex(RetiredTasks())
    /// `global.stall_after`: a running task whose files have not grown for this long is stalled.
    private let stallAfter = Mutex<Double>(900)
    /// Which tasks get per-task series (`global.task_series`, `max_task_series`).
    private let policy = Mutex(SeriesPolicy())

    public init(store: TaskSeriesStore, persistence: (any TaskStore)? = nil, counters: FleetCounters = FleetCounters()) {
        self.store = store
        self.persistence = persistence
        self.counters = counters
    }

    /// Re-creates tasks from the durable store at start: their last state is exported again, and finished tasks
    /// keep their end time, so they expire on schedule instead of being announced as new. What they did before is
    /// marked counted without being counted: the counters restarted with the process and must not replay the past.
    public func restore(_ restored: [StoredTask], retired forgotten: [TaskKey: Double] = [:]) {
        tasks.withLock { all in
            retired.withLock { $0.insert(forgotten) }
            let now = Date().timeIntervalSince1970
            for row in restored {
                guard var task = TrackedTask(row: row) else { continue }
                _ = task.countNew()
                all[task.key] = task
                show(task, now: now)
            }
        }
    }

    /// HA: takes over tasks of shards this replica just leased, as `restore` does at start (what the previous owner
    /// counted stays counted). Tasks already tracked keep their state. Returns the keys taken over.
    @discardableResult
    public func adopt(_ rows: [StoredTask], retired forgotten: [TaskKey: Double] = [:]) -> [TaskKey] {
        tasks.withLock { all in
            retired.withLock { $0.insert(forgotten) }
            let now = Date().timeIntervalSince1970
            var adopted: [TaskKey] = []
            for row in rows where all[row.key] == nil {
                guard var task = TrackedTask(row: row), !task.sources.isEmpty else { continue }
                _ = task.countNew()
                all[task.key] = task
                show(task, now: now)
                adopted.append(task.key)
            }
            return adopted
        }
    }

    /// HA: forgets the tasks another replica now owns: their series go, their rows stay (the new owner reads them).
    public func release(where leaving: (TaskKey) -> Bool) -> [TaskKey] {
        tasks.withLock { all in
            let keys = all.keys.filter(leaving)
            for key in keys {
                all.removeValue(forKey: key)
                store.remove(key)
            }
            return keys
        }
    }

    /// HA: makes a task's shared sources (`api`, `callback`), fields and labels match its row, as written by any
    /// replica. Returns the task when it is tracked afterwards, and whether it was new.
    public func applyShared(_ row: StoredTask, vendor: Vendor) -> (isNew: Bool, task: TrackedTask?) {
        let shared = Set(row.sharedSources.compactMap(TaskSource.init(rawValue:)))
        let spec = TaskSpec(account: row.key.account, id: row.key.taskID, fields: row.fields, labels: row.labels)
        // The version first: a task left without sources below is deleted at the version just read.
        tasks.withLock { all in
            guard var task = all[row.key] else { return }
            task.registrationVersion = row.registrationVersion
            all[row.key] = task
        }
        var isNew = false
        for source in shared { isNew = ((try? track(spec, vendor: vendor, source: source)) ?? false) || isNew }
        if isNew { tasks.withLock { all in all[row.key]?.registrationVersion = row.registrationVersion } }
        let current = task(row.key)?.sources ?? []
        for source in current where StoredTask.sharedSourceNames.contains(source.rawValue) && !shared.contains(source) {
            untrack(row.key, source: source)
        }
        return (isNew, task(row.key))
    }

    // Series and durable rows are changed while the task lock is held, so they follow the tasks in the same order:
    // an expiry racing a poll result can then never leave a series (or a row) behind for a task that is gone.

    public func setStallAfter(_ seconds: Double) { stallAfter.withLock { $0 = seconds } }

    /// Applies `global.task_series` and `max_task_series` (on start and reload). When the mode or the cap changed,
    /// every task's series are set again at once, so no task keeps series the new mode would not give it.
    public func applySeriesPolicy(_ new: SeriesPolicy, now: Double = Date().timeIntervalSince1970) {
        tasks.withLock { all in
            let old = policy.withLock { policy in
                defer { policy = new }
                return policy
            }
            guard old.mode != new.mode || old.cap != new.cap else { return }
            store.setCap(new.cap)
            store.removeAll { _ in true }
            for task in all.values { show(task, now: now) }
        }
    }

    /// Gives or takes series as tasks start or stop needing attention with time alone (stuck, not polled), and lets
    /// tasks the cap left out take freed room. Called periodically.
    public func reviewSeries(now: Double) {
        tasks.withLock { all in
            let current = policy.withLock { $0 }
            guard current.mode == .attention || current.cap != nil else { return }
            for task in all.values {
                guard let state = store.exportState(task.key) else { continue }
                let wanted = current.shows(task, now: now)
                if wanted != (state.shown || state.capped) || (state.capped && store.hasRoom) { show(task, now: now) }
            }
        }
    }

    /// Sets a task's series as the policy says. Called with the task lock held.
    private func show(_ task: TrackedTask, now: Double) {
        store.set(task.key, task.export, show: policy.withLock { $0.shows(task, now: now) })
    }

    /// Exports a changed task and queues or writes it to the durable store. Called with the task lock held.
    private func publish(_ task: TrackedTask, statusChanged: Bool, now: Double) {
        show(task, now: now)
        // A status change (above all an end) and anything newly counted are saved at once, so a crash cannot make a
        // finished task look new or count an event twice; routine refreshes (last success time, file growth) are
        // written behind in batches.
        if statusChanged, (try? persistence?.saveNow([task])) != nil { return }
        persistence?.saveLater(task)
    }

    /// Forgets tasks' series and rows; finished ones are remembered as retired. Called with the task lock held.
    private func unpublish(_ removed: [TrackedTask]) {
        guard !removed.isEmpty else { return }
        for task in removed { store.remove(task.key) }
        try? persistence?.delete(removed.map(\.storedVersion))
        var ended: [TaskKey: Double] = [:]
        for task in removed { if let endedAt = task.endedAt { ended[task.key] = endedAt } }
        guard !ended.isEmpty else { return }
        let forgetBefore = retired.withLock { retired in
            retired.insert(ended)
            return retired.forgetBefore
        }
        try? persistence?.retire(ended, forgetBefore: forgetBefore)
    }

    /// Counts a task's new events after its state (with what was counted) has been handed to the store.
    private func count(_ events: FleetEvents, of task: TrackedTask) {
        guard !events.isEmpty else { return }
        counters.count(events, vendor: task.vendor, account: task.spec.account)
    }

    /// Starts tracking (or adds a source to) a task. Returns true when the task is new.
    /// With `durable`, the task is in the durable store when this returns (or it throws and nothing changed).
    @discardableResult
    public func track(_ spec: TaskSpec, vendor: Vendor, source: TaskSource, durable: Bool = false) throws -> Bool {
        var result: (isNew: Bool, task: TrackedTask, changed: Bool)?
        var failure: (any Error)?
        tasks.withLock { all in
            var task: TrackedTask
            let isNew: Bool
            if let existing = all[spec.key] {
                task = existing
                isNew = false
            } else {
                task = TrackedTask(spec: spec, vendor: vendor, sources: [])
                isNew = true
                // Named again after it finished and was forgotten: its events were counted the first time round.
                if retired.withLock({ $0.contains(spec.key) }) { task.counted = CountedEvents(closed: true) }
            }
            let before = (task.sources, task.spec.fields, task.spec.labels)
            task.sources.insert(source)
            // The newest definition of vendor fields and labels wins (e.g. a corrected resource_id).
            task.spec.fields.merge(spec.fields) { _, new in new }
            task.spec.labels.merge(spec.labels) { _, new in new }
            let changed = isNew || before.0 != task.sources || before.1 != task.spec.fields || before.2 != task.spec.labels
            if changed, durable, let persistence {
                do { try persistence.saveNow([task]) } catch {
                    failure = error
                    return
                }
            }
            all[spec.key] = task
            result = (isNew, task, changed)
            if changed {
                show(task, now: Date().timeIntervalSince1970)
                if !durable { persistence?.saveLater(task) }
            }
            if isNew, task.counted?.closed != true { counters.countStart(vendor: vendor, account: spec.account, source: source) }
        }
        if let failure { throw failure }
        return result?.isNew ?? false
    }

    /// Removes a source; a task with no source left stops being tracked and loses its series.
    public func untrack(_ key: TaskKey, source: TaskSource) {
        tasks.withLock { all in
            guard var task = all[key] else { return }
            task.sources.remove(source)
            if task.sources.isEmpty {
                all.removeValue(forKey: key)
                unpublish([task])
            } else {
                all[key] = task
                persistence?.saveLater(task)
            }
        }
    }

    /// Removes every task of an account (the account left the configuration).
    public func removeAccount(_ account: String) {
        tasks.withLock { all in
            let removed = all.values.filter { $0.spec.account == account }
            for task in removed { all.removeValue(forKey: task.key) }
            unpublish(removed)
        }
    }

    public func task(_ key: TaskKey) -> TrackedTask? { tasks.withLock { $0[key] } }
    public var all: [TrackedTask] { tasks.withLock { Array($0.values) } }
    public var count: Int { tasks.withLock { $0.count } }

    public func keys(account: String) -> [TaskKey] {
        tasks.withLock { all in all.keys.filter { $0.account == account } }
    }

    /// Records a poll result and re-renders the task's series. Returns the updated task, or nil when it is no
    /// longer tracked (removed while the call was in flight).
    @discardableResult
    public func record(_ key: TaskKey, result: PollResult, now: Double, notFoundGrace: Double) -> TrackedTask? {
        tasks.withLock { all -> TrackedTask? in
            guard var task = all[key] else { return nil }
            let before = (task.status, task.endedAt, task.everSeen)
            _ = task.apply(result, now: now, notFoundGrace: notFoundGrace)
            if task.status != before.0 { task.statusSince = now }
            if result.outcome == .success {
                task.trackProgress(now: now)
                task.stalled = task.isStalled(now: now, stallAfter: stallAfter.withLock { $0 })
            }
            let events = task.countNew()
            all[key] = task
            publish(task, statusChanged: before != (task.status, task.endedAt, task.everSeen) || !events.isEmpty, now: now)
            count(events, of: task)
            return task
        }
    }

    /// Applies verified callback events to a tracked task and re-renders its series. Returns the updated task, or nil
    /// when the task is not tracked (callbacks only start tracking through `PollingEngine.track`).
    @discardableResult
    public func recordCallback(_ key: TaskKey, events: [CallbackEvent], name: String, now: Double) -> TrackedTask? {
        tasks.withLock { all -> TrackedTask? in
            guard var task = all[key] else { return nil }
            let before = (task.status, task.endedAt)
            for event in events { _ = task.applyCallback(event, name: name, now: now) }
            if task.status != before.0 { task.statusSince = now }
            let counted = task.countNew()
            all[key] = task
            publish(task, statusChanged: before != (task.status, task.endedAt) || !counted.isEmpty, now: now)
            count(counted, of: task)
            return task
        }
    }

    /// Drops finished tasks whose retention has passed, and tasks the vendor never knew (its last answer was
    /// not-found, it never answered for them, no callback named them) `unseenRetention` after they began being
    /// tracked. Returns the keys removed.
    @discardableResult
    public func expire(now: Double, retention: Double, unseenRetention: Double = .infinity) -> [TaskKey] {
        tasks.withLock { all -> [TaskKey] in
            let removed = all.values.filter { task in
                if let endedAt = task.endedAt { return now - endedAt >= retention }
                return !task.everSeen && task.callback == nil && task.lastResult?.outcome == .notFound
                    && now - task.registeredAt >= unseenRetention
            }
            for task in removed { all.removeValue(forKey: task.key) }
            retired.withLock { $0.prune(now: now) }
            unpublish(removed)
            return removed.map(\.key)
        }
    }

    /// Rows for `cloudrec_tasks` from counts per account and status: every status of every account, zeros included.
    public static func statusRows(_ counts: [String: [TaskStatus: Int]], accounts: [(Vendor, String)]) -> [([String], Double)] {
        var rows: [([String], Double)] = []
        for (vendor, account) in accounts.sorted(by: { $0.1 < $1.1 }) {
            for status in TaskStatus.allCases {
                rows.append(([vendor.rawValue, account, status.rawValue], Double(counts[account]?[status] ?? 0)))
            }
        }
        return rows
    }
}
