import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecStorage
import CloudRecVendors
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs one `AccountPoller` per account, applies configuration changes without losing task state, and expires
/// finished tasks after `ended_task_retention`.
public final class PollingEngine: Service, Sendable {
    public let tracker: TaskTracker
    public let metrics: ExporterMetrics
    private let transport: any VendorTransport
    private let logger: Logger
    private let pollers = Mutex<[String: AccountPoller]>([:])
    /// Held by `apply` and by `track`/`untrack`: a registration during a reload must not slip between a poller's
    /// replacement and the new poller's schedule sync (it would be tracked and never polled).
    private let changes = Mutex(())
    private let global = Mutex(GlobalConfig())
    private let newPollers: AsyncStream<AccountPoller>
    private let newPollerSink: AsyncStream<AccountPoller>.Continuation
    /// This replica's share of the tasks (`--shard`/`--total-shards`, or leased shards in HA mode); other shards'
    /// tasks are never tracked.
    public let ownership: ShardOwnership
    /// The config's tasks, for shards leased later (HA).
    private let configTasks = Mutex<[TaskSpec]>([])

    public init(tracker: TaskTracker, metrics: ExporterMetrics, transport: any VendorTransport, logger: Logger,
                ownership: ShardOwnership = ShardOwnership(.unsharded)) {
        self.ownership = ownership
        self.tracker = tracker
        self.metrics = metrics
        self.transport = transport
        self.logger = logger
        (newPollers, newPollerSink) = AsyncStream.makeStream()
    }

    public var settings: PollingSettings {
        let g = global.withLock { $0 }
        return PollingSettings(requestTimeout: g.requestTimeout, maxResponseBytes: g.maxResponseBytes)
    }

    public var accounts: [AccountSpec] { pollers.withLock { $0.values.map(\.account) }.sorted { $0.name < $1.name } }

    public func poller(for account: String) -> AccountPoller? { pollers.withLock { $0[account] } }

    /// Makes the running state match a (validated) configuration. Tasks keep their state across reloads; only tasks
    /// of removed accounts, or removed from the config and known from no other source, lose their series.
    public func apply(_ config: ExporterConfig) {
        changes.withLock { _ in applyLocked(config) }
    }

    private func applyLocked(_ config: ExporterConfig) {
        global.withLock { $0 = config.global }
        tracker.setStallAfter(config.global.stallAfter)
        let wanted = Dictionary(uniqueKeysWithValues: config.accounts.map { ($0.name, $0) })
        var started: [AccountPoller] = []
        var removedAccounts: [String] = []
        // Every account gets an even share of the calls in flight, so one that hangs cannot starve the others.
        let concurrencyShare = max(1, config.global.maxConcurrentRequests / max(1, wanted.count))
        pollers.withLock { running in
            for (name, poller) in running where wanted[name] != poller.account {
                poller.stop()
                running.removeValue(forKey: name)
                if wanted[name]?.vendor != poller.account.vendor { removedAccounts.append(name) }
            }
            for (name, account) in wanted where running[name] == nil {
                let poller = AccountPoller(account: account, client: VendorCatalog.makeClient(for: account), tracker: tracker,
                                           metrics: metrics, transport: transport, concurrencyLimit: concurrencyShare,
                                           settings: { [weak self] in self?.settings ?? PollingSettings() }, logger: logger,
                                           budgetShare: ownership.share, ownership: ownership,
                                           discovered: { [weak self] spec in (try? self?.track(spec, source: .discovery)) == true })
                running[name] = poller
                started.append(poller)
            }
            for poller in running.values { poller.concurrency.setLimit(concurrencyShare) }
        }
        // Tasks of accounts that are gone (including ones restored from the durable store) go with them.
        for name in Set(tracker.all.map(\.spec.account)) where wanted[name] == nil && !removedAccounts.contains(name) {
            logger.warning("forgetting tasks of an account that is no longer configured", metadata: ["account": .string(name)])
            removedAccounts.append(name)
        }
        for name in removedAccounts {
            tracker.removeAccount(name)
            metrics.unregisterAccount(name)
        }
        for poller in started {
            metrics.registerAccount(vendor: poller.account.vendor, account: poller.account.name, api: poller.client.statusAPIName)
            tracker.counters.registerAccount(vendor: poller.account.vendor, account: poller.account.name)
        }

        let configured = Set(config.tasks.map(\.key))
        for task in tracker.all where task.sources.contains(.config) && !configured.contains(task.key) {
            tracker.untrack(task.key, source: .config)
        }
        configTasks.withLock { $0 = config.tasks }
        // Config tasks join like every other source, but their first polls are spread by syncSchedules below
        // instead of all going at once.
        for spec in config.tasks where wanted[spec.account] != nil {
            _ = try? trackLocked(spec, source: .config, durable: false, pollAtOnce: false)
        }
        let intervals = Dictionary(uniqueKeysWithValues: config.accounts.map { ($0.name, $0.pollInterval) })
        tracker.applySeriesPolicy(SeriesPolicy(mode: config.global.taskSeries, cap: config.global.maxTaskSeries,
                                               pollIntervals: intervals))
        syncSchedules()
        for poller in started { newPollerSink.yield(poller) }
    }

    /// The one way in for every task source: the config (`apply`), the registration API, discovery files, vendor
    /// lists (discovery) and callbacks. Checks the account and this replica's shard, tracks the task, and polls a
    /// new one at once. With `durable`, the registration is in the durable store when this returns. Returns
    /// whether the task is new.
    @discardableResult
    public func track(_ spec: TaskSpec, source: TaskSource, durable: Bool = false) throws -> Bool {
        try changes.withLock { _ throws -> Bool in try trackLocked(spec, source: source, durable: durable) }
    }

    private func trackLocked(_ spec: TaskSpec, source: TaskSource, durable: Bool, pollAtOnce: Bool = true) throws -> Bool {
        guard let poller = poller(for: spec.account) else { throw UnknownAccount(name: spec.account) }
        guard ownership.keeps(spec.key) else { throw OtherShard(task: spec.key) }
        let wasPolled = tracker.task(spec.key)?.needsPolling ?? false
        let isNew = try tracker.track(spec, vendor: poller.account.vendor, source: source, durable: durable)
        // A task a callback announced without the fields polling needs (Agora's resource_id) is polled once they come.
        if pollAtOnce, isNew || !wasPolled, tracker.task(spec.key)?.needsPolling == true {
            poller.pollSoon(spec.key, now: Date().timeIntervalSince1970)
        }
        return isNew
    }

    public func untrack(_ key: TaskKey, source: TaskSource) {
        changes.withLock { _ in
            tracker.untrack(key, source: source)
            if tracker.task(key) == nil { poller(for: key.account)?.unschedule(key) }
        }
    }

    /// Call once before `apply` at start: tasks from the durable store, polled again when their account exists, and
    /// the finished tasks already forgotten (not counted again when named again).
    public func restore(_ tasks: [StoredTask], retired: [TaskKey: Double] = [:]) {
        tracker.restore(tasks, retired: retired)
    }

    // MARK: HA (leased shards)

    /// Shards this replica just leased: their tasks as the store has them (what the previous owner counted stays
    /// counted), and the config's tasks of those shards. Polling starts spread over one interval.
    public func adopt(shards: Set<Int>, rows: [StoredTask], retired: [TaskKey: Double]) {
        changes.withLock { _ in
            ownership.add(shards)
            let accounts = pollers.withLock { $0.mapValues(\.account.vendor) }
            let adopted = tracker.adopt(rows.filter { accounts[$0.key.account] != nil && shards.contains($0.shard) }, retired: retired)
            let now = Date().timeIntervalSince1970
            var byAccount: [String: [(key: TaskKey, lastPoll: Double?)]] = [:]
            for key in adopted {
                guard let task = tracker.task(key), task.needsPolling else { continue }
                byAccount[key.account, default: []].append((key, task.lastPoll))
            }
            for (account, tasks) in byAccount { poller(for: account)?.adopt(tasks, now: now) }
            for spec in configTasks.withLock({ $0 }) where shards.contains(StoredTask.shard(of: spec.key)) {
                _ = try? trackLocked(spec, source: .config, durable: false, pollAtOnce: false)
            }
            syncSchedules()
        }
    }

    /// Shards this replica no longer holds: their tasks stop being polled and exported at once (their rows stay for
    /// the next owner). Returns the tasks let go.
    @discardableResult
    public func release(shards: Set<Int>) -> [TaskKey] {
        changes.withLock { _ in
            ownership.remove(shards)
            let keys = tracker.release { shards.contains(StoredTask.shard(of: $0)) }
            for key in keys { poller(for: key.account)?.unschedule(key) }
            return keys
        }
    }

    /// Each account's request budget follows the share of shards held (`rate_limit × held / all`).
    public func applyBudgetShare(now: Double = Date().timeIntervalSince1970) {
        let share = max(ownership.share, 1e-6)
        for poller in pollers.withLock({ Array($0.values) }) { poller.budget.setLimit(poller.account.rateLimit * share, now: now) }
    }

    /// A registration, deregistration or callback that any replica wrote: applied when this replica owns the task.
    /// Returns whether the task is tracked here afterwards.
    @discardableResult
    public func applyShared(_ row: StoredTask) -> Bool {
        changes.withLock { _ in
            guard ownership.keeps(row.key), let poller = poller(for: row.key.account) else { return false }
            let wasPolled = tracker.task(row.key)?.needsPolling ?? false
            let (isNew, task) = tracker.applyShared(row, vendor: poller.account.vendor)
            guard let task else {
                poller.unschedule(row.key)
                return false
            }
            if isNew || !wasPolled, task.needsPolling { poller.pollSoon(row.key, now: Date().timeIntervalSince1970) }
            return true
        }
    }

    /// The resync: rows of the shards held that are not tracked yet, and tracked tasks whose shared sources changed.
    public func reconcile(rows: [StoredTask]) {
        // One lookup: an untracked task (nil) differs from every row's version too.
        for row in rows where tracker.task(row.key)?.registrationVersion != row.registrationVersion {
            applyShared(row)
        }
    }

    private func syncSchedules() {
        let now = Date().timeIntervalSince1970
        var byAccount: [String: Set<TaskKey>] = [:]
        for task in tracker.all where task.needsPolling { byAccount[task.spec.account, default: []].insert(task.key) }
        for poller in pollers.withLock({ Array($0.values) }) {
            poller.sync(keys: byAccount[poller.account.name] ?? [], now: now)
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.expireLoop() }
            for poller in pollers.withLock({ Array($0.values) }) { group.addTask { await poller.run() } }
            // Pollers created by later reloads join the group here.
            for await poller in newPollers.cancelOnGracefulShutdown() where !poller.isStopped {
                group.addTask { await poller.run() }
            }
            for poller in pollers.withLock({ Array($0.values) }) { poller.stop() }
            group.cancelAll()
        }
    }

    private func expireLoop() async {
        while !Task.isCancelled {
            let (retention, unseenRetention) = global.withLock { ($0.endedTaskRetention, $0.unseenTaskRetention) }
            let now = Date().timeIntervalSince1970
            tracker.reviewSeries(now: now)
            let expired = tracker.expire(now: now, retention: retention, unseenRetention: unseenRetention)
            for key in expired { pollers.withLock { $0[key.account] }?.unschedule(key) }
            if !expired.isEmpty { logger.debug("expired finished tasks", metadata: ["count": .stringConvertible(expired.count)]) }
            try? await Task.sleep(for: .seconds(min(max(retention / 10, 0.2), 5)))
        }
    }

    /// Scrape-time families computed from the engine's state.
    public func scrapeFamilies() -> [any ExposedFamily] {
        var families: [any ExposedFamily] = []
        if case let .fixed(shard) = ownership.mode {
            let shardLabels = [String(shard.shard), String(shard.totalShards)]
            families.append(GaugeCallbackFamily(name: "cloudrec_shard_info",
                                help: "This replica's shard of the tasks (--shard, --total-shards); always 1. Unsharded replicas report shard 0 of 1.",
                                labelNames: ["shard", "total_shards"]) { [(shardLabels, 1)] })
        }
        return families + [
            // Counted from the scrape's own snapshot of the task series, so the two always agree.
            GaugeSnapshotFamily(name: "cloudrec_tasks", help: "Number of tracked recording tasks by common status.",
                                labelNames: ["vendor", "account", "status"]) { [weak self] snapshot in
                guard let self else { return [] }
                return TaskTracker.statusRows(snapshot.statusCounts, accounts: self.accounts.map { ($0.vendor, $0.name) })
            },
            GaugeSnapshotFamily(name: "cloudrec_tasks_stalled",
                                help: "Running tasks whose files (count, size, duration) have not grown for stall_after, per account.",
                                labelNames: ["vendor", "account"]) { [weak self] snapshot in
                (self?.accounts ?? []).map { ([$0.vendor.rawValue, $0.name], Double(snapshot.stalledCounts[$0.name] ?? 0)) }
            },
            GaugeSnapshotFamily(name: "cloudrec_task_series_capped",
                                help: "Tasks that should have per-task series but were left out by global.max_task_series, per account.",
                                labelNames: ["vendor", "account"]) { [weak self] snapshot in
                (self?.accounts ?? []).map { ([$0.vendor.rawValue, $0.name], Double(snapshot.cappedCounts[$0.name] ?? 0)) }
            },
            GaugeCallbackFamily(name: "cloudrec_poll_budget_utilization",
                                help: "Share of this replica's polling budget for the account (rate_limit / total_shards) spent over the last 10 seconds (1 means polling is limited by the budget).",
                                labelNames: ["vendor", "account"]) { [weak self] in
                let now = Date().timeIntervalSince1970
                return (self?.pollerList ?? []).map { ([$0.account.vendor.rawValue, $0.account.name], $0.budget.utilization(now: now)) }
            },
            GaugeCallbackFamily(name: "cloudrec_poll_lag_seconds",
                                help: "How late the most recent poll of the account started compared with its due time, in seconds.",
                                labelNames: ["vendor", "account"]) { [weak self] in
                (self?.pollerList ?? []).map { ([$0.account.vendor.rawValue, $0.account.name], $0.lag) }
            },
        ]
    }

    private var pollerList: [AccountPoller] { pollers.withLock { Array($0.values) }.sorted { $0.account.name < $1.account.name } }
}

public struct UnknownAccount: Error, CustomStringConvertible {
    public var name: String
    public init(name: String) { self.name = name }
    public var description: String { "no account named \"\(name)\"" }
}

/// A task another replica polls (`--shard` / `--total-shards`): this one neither tracks nor exports it.
public struct OtherShard: Error, CustomStringConvertible {
    public var task: TaskKey
    public init(task: TaskKey) { self.task = task }
    public var description: String { "task \(task) belongs to another replica's shard" }
}
