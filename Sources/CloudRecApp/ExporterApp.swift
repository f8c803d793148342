import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecMetrics
import CloudRecPolling
import CloudRecStorage
import CloudRecVendors
import Foundation
import Logging
import Synchronization

/// Where the running configuration comes from: a file (re-read on reload) or a fixed value (demo, tests).
public enum ConfigSource: Sendable {
    case file(String)
    case fixed(ExporterConfig)
}

/// The running exporter: owns the task store, the polling engine and the metric exposition, and implements
/// reload (SIGHUP, `POST /-/reload`): a bad new config is rejected and the old one keeps running.
public final class ExporterApp: ExporterControl, TaskRegistry, Sendable {
    public let store = TaskSeriesStore()
    public let tracker: TaskTracker
    public let metrics: ExporterMetrics
    public let engine: PollingEngine
    public let exposition: MetricsExposition
    public let taskFiles: TaskFileWatcher
    /// `POST /callbacks/{account}` (ExporterApp+Callbacks.swift).
    public let callbacks: CallbackIntake
    /// The listener's connection figures; filled once `ExporterServer` serves under `ConnectionLimits`.
    public let connections = ConnectionMetrics()
    public let logger: Logger
    private let source: Mutex<ConfigSource>
    private let loader: ConfigLoader
    private let ready = Atomic<Bool>(false)
    private let current = Mutex<ExporterConfig?>(nil)
    /// One reload at a time, from reading the file to the last gauge: two reloads (SIGHUP and `POST /-/reload`, or
    /// signals back to back) would otherwise interleave their applies and could leave the older file running.
    private let reloading = Mutex(())
    /// Held while a configuration is applied and while a scrape collects, so a scrape sees the state before or
    /// after an apply, never accounts of one configuration with tasks of the other.
    private let scrapeCut = Mutex(())

    /// HA mode (`--storage.url`): the shared store and the lease keeper; nil with SQLite or no store.
    public let shared: SharedStore?

    /// The shared PostgreSQL store and the keeper of this replica's shard leases.
    public struct SharedStore: Sendable {
        public let store: PostgresTaskStore
        public let leases: ShardLeaseKeeper
    }

    public init(source: ConfigSource, transport: any VendorTransport, logger: Logger,
                loader: ConfigLoader = ConfigLoader(), persistence: (any TaskStore)? = nil,
                shard: ShardSelector = .unsharded, highAvailability: (store: PostgresTaskStore, settings: ShardLeaseKeeper.Settings)? = nil) {
        self.source = Mutex(source)
        self.loader = loader
        self.logger = logger
        tracker = TaskTracker(store: store, persistence: highAvailability?.store ?? persistence)
        metrics = ExporterMetrics(version: BuildInfo.version, revision: BuildInfo.revision)
        engine = PollingEngine(tracker: tracker, metrics: metrics, transport: transport, logger: logger,
                               ownership: highAvailability == nil ? ShardOwnership(shard) : .leasedShards())
        taskFiles = TaskFileWatcher(engine: engine, logger: logger)
        var haFamilies: [any ExposedFamily] = []
        if let highAvailability {
            let keeper = ShardLeaseKeeper(leases: highAvailability.store, store: highAvailability.store, changes: highAvailability.store.changes,
                                          engine: engine, settings: highAvailability.settings, logger: logger)
            shared = SharedStore(store: highAvailability.store, leases: keeper)
            haFamilies = keeper.families + highAvailability.store.metricFamilies
            let store = highAvailability.store
            callbacks = CallbackIntake(engine: engine, logger: logger, handOff: { spec, vendor in
                Task { _ = try? await store.register(TaskRegistration(key: spec.key, vendor: vendor.rawValue, source: TaskSource.callback.rawValue,
                                                                      fields: spec.fields, labels: spec.labels)) }
            })
        } else {
            shared = nil
            callbacks = CallbackIntake(engine: engine, logger: logger)
            haFamilies = persistence?.metricFamilies ?? []
        }
        exposition = MetricsExposition(store: store, families: metrics.families + tracker.counters.families + engine.scrapeFamilies()
            + taskFiles.families + callbacks.families + connections.families + haFamilies + ProcessMetrics.families(),
            renders: metrics.scrapeRenders)
    }

    public var version: String { BuildInfo.version }
    public var isReady: Bool { ready.load(ordering: .relaxed) }
    public var config: ExporterConfig? { current.withLock { $0 } }

    /// Loads the configuration for the first time; a bad one is fatal at start (the caller exits non-zero).
    /// `restored` are the tasks from the durable store, `retired` the finished tasks it remembers as forgotten.
    public func start(restoring restored: [StoredTask] = [], retired: [TaskKey: Double] = [:]) throws(ConfigErrors) {
        let (config, hash) = try loadConfig()
        engine.restore(restored, retired: retired)
        apply(config, hash: hash)
        ready.store(true, ordering: .relaxed)
    }

    /// Demo mode: the config only exists once the simulators listen.
    public func startDemo(with config: ExporterConfig) {
        reloading.withLock { _ in
            source.withLock { $0 = .fixed(config) }
            apply(config)
        }
        ready.store(true, ordering: .relaxed)
    }

    public func reload() async -> String? {
        reloading.withLock { _ in reloadNow() }
    }

    private func reloadNow() -> String? {
        do {
            let (config, hash) = try loadConfig()
            apply(config, hash: hash)
            metrics.configReloads.increment(["success"])
            logger.info("configuration reloaded", metadata: ["accounts": .stringConvertible(config.accounts.count),
                                                            "tasks": .stringConvertible(config.tasks.count)])
            return nil
        } catch {
            metrics.configReloadSuccessful.set([], 0)
            metrics.configReloads.increment(["failure"])
            logger.error("configuration reload failed, keeping the running configuration", metadata: ["error": .string(error.description)])
            return error.description
        }
    }

    /// The configuration and, for a file, the hash of the text it was parsed from.
    private func loadConfig() throws(ConfigErrors) -> (ExporterConfig, UInt64?) {
        switch source.withLock({ $0 }) {
        case let .file(path): return try loader.loadHashed(path: path)
        case let .fixed(config): return (config, nil)
        }
    }

    private func apply(_ config: ExporterConfig, hash: UInt64? = nil) {
        scrapeCut.withLock { _ in
            engine.apply(config)
            if let hash { metrics.configHash.set([], Self.metricValue(hash)) } else { metrics.configHash.remove([]) }
            current.withLock { $0 = config }
            metrics.configReloadSuccessful.set([], 1)
            metrics.configReloadTimestamp.set([], Date().timeIntervalSince1970.rounded())
        }
        // Discovery files are their own source, re-read on their own schedule; they need not be in the same cut.
        taskFiles.setPatterns(config.taskFiles)
    }

    /// 48 bits of a hash as a gauge value: exact in a Double and printed as an integer (as Alertmanager does).
    public static func metricValue(_ hash: UInt64) -> Double { Double(hash >> 16) }

    // MARK: TaskRegistry (the /api/v1 registration API)

    public var apiAccess: APIAccess? { config?.api.map { APIAccess(token: $0.token, maxBodyBytes: $0.maxBodyBytes) } }

    public func hasAccount(_ name: String) -> Bool { config?.account(named: name) != nil }

    /// Checks the labels against `api.labels` and the fields against the vendor's schema, then tracks the task durably.
    public func register(_ key: TaskKey, fields: [String: String], labels: [String: String]) async throws(RegistryError)
        -> (isNew: Bool, task: TaskView) {
        guard let config, let account = config.account(named: key.account) else {
            throw .notFound("no account named \"\(ExternalText.excerpt(key.account))\"")
        }
        let allowed = config.api?.allowedLabels ?? []
        for (label, text) in labels.sorted(by: { $0.key < $1.key }) {
            guard allowed.contains(label) else {
                let list = allowed.isEmpty ? "none are configured" : allowed.joined(separator: ", ")
                throw .invalid("label \"\(ExternalText.excerpt(label))\" is not allowed (api.labels: \(list))")
            }
            guard ExternalText.isPrintable(text, lengths: 0...128) else {
                throw .invalid("label \"\(label)\" must be a string of at most 128 printable characters")
            }
        }
        let validation = TaskFieldValidation.validate(id: key.taskID, fields: fields, schema: VendorCatalog.schema(for: account.vendor))
        if let problem = validation.problems.first {
            throw .invalid(problem.key.map { "\(ExternalText.excerpt($0)): \(problem.message)" } ?? problem.message)
        }
        let spec = TaskSpec(account: key.account, id: key.taskID, fields: validation.fields, labels: labels)
        if let shared { return try await registerShared(spec, vendor: account.vendor, store: shared.store) }
        let isNew: Bool
        do {
            isNew = try engine.track(spec, source: .api, durable: true)
        } catch let error as UnknownAccount {
            throw .notFound(error.description)
        } catch let error as OtherShard {
            throw .misdirected(error.description)
        } catch {
            throw .unavailable("\(error)")
        }
        guard let task = tracker.task(spec.key) else { throw .notFound("no account named \"\(ExternalText.excerpt(key.account))\"") }
        return (isNew, task.view)
    }

    /// HA: written to the shared store by this replica whatever the task's shard; the owner (maybe this replica)
    /// applies it at once here, or within a second through `NOTIFY`.
    private func registerShared(_ spec: TaskSpec, vendor: Vendor, store: PostgresTaskStore) async throws(RegistryError)
        -> (isNew: Bool, task: TaskView) {
        let row: StoredTask
        do {
            row = try await store.register(TaskRegistration(key: spec.key, vendor: vendor.rawValue, source: TaskSource.api.rawValue,
                                                            fields: spec.fields, labels: spec.labels))
        } catch {
            throw .unavailable("\(error)")
        }
        engine.applyShared(row)
        guard let view = tracker.task(spec.key)?.view ?? TrackedTask(row: row)?.view else { throw .unavailable("the stored task cannot be read") }
        return (row.registrationVersion == 1, view)
    }

    public func unregister(_ key: TaskKey) async throws(RegistryError) -> Bool {
        if let shared {
            let row: StoredTask?
            do {
                row = try await shared.store.unregister(key, source: TaskSource.api.rawValue)
            } catch {
                throw .unavailable("\(error)")
            }
            guard let row else { return false }
            engine.applyShared(row)
            return true
        }
        guard tracker.task(key)?.sources.contains(.api) == true else { return false }
        engine.untrack(key, source: .api)
        return true
    }

    public func tasks() -> [TaskView] { tracker.all.map(\.view) }
    public func task(_ key: TaskKey) -> TaskView? { tracker.task(key)?.view }

    /// Collects under the scrape cut (cheap: bounded families and an O(1) snapshot), then copies the series outside it.
    public func renderMetrics(_ format: ExpositionFormat) -> [UInt8] {
        exposition.render(scrapeCut.withLock { _ in exposition.collect(format) })
    }

    /// Gzip scrapes reuse the compressed blocks of unchanged tasks (`GzipScrapeCache`); collected under the same cut.
    public func renderMetricsGzip(_ format: ExpositionFormat) -> (body: [UInt8], uncompressedBytes: Int)? {
        exposition.renderGzip(scrapeCut.withLock { _ in exposition.collect(format) })
    }

    public func fleetOverview(limit: Int) -> FleetOverview {
        let now = Date().timeIntervalSince1970
        let accounts = engine.accounts
        let intervals = Dictionary(uniqueKeysWithValues: accounts.map { ($0.name, $0.pollInterval) })
        var attention: [FleetOverview.AttentionTask] = []
        var tasksPerAccount: [String: Int] = [:]
        for task in tracker.all {
            tasksPerAccount[task.spec.account, default: 0] += 1
            let reasons = task.attentionReasons(now: now, pollInterval: intervals[task.spec.account] ?? SeriesPolicy.defaultPollInterval)
            guard !reasons.isEmpty else { continue }
            attention.append(.init(vendor: task.vendor, account: task.spec.account, taskID: task.spec.id, status: task.status,
                                   reasons: reasons, lastSuccess: task.lastSuccess))
        }
        attention.sort { ($0.account, $0.taskID) < ($1.account, $1.taskID) }
        let counters = tracker.counters
        let health = accounts.map { account in
            FleetOverview.Account(
                vendor: account.vendor, name: account.name, tasks: tasksPerAccount[account.name] ?? 0,
                completed: counters.finishedCount(vendor: account.vendor, account: account.name, status: .completed),
                failed: counters.finishedCount(vendor: account.vendor, account: account.name, status: .failed),
                filesFinished: UploadState.final.reduce(0) { $0 + counters.filesCount(vendor: account.vendor, account: account.name, state: $1) },
                filesFailed: counters.filesCount(vendor: account.vendor, account: account.name, state: .failed),
                health: engine.poller(for: account.name)?.health ?? AccountHealth())
        }
        return FleetOverview(attention: Array(attention.prefix(limit)), attentionTotal: attention.count, accounts: health, now: now)
    }

    public func taskSummary() -> [Vendor: [TaskStatus: Int]] {
        var summary: [Vendor: [TaskStatus: Int]] = [:]
        for account in engine.accounts { summary[account.vendor, default: [:]] = summary[account.vendor] ?? [:] }
        for task in tracker.all { summary[task.vendor, default: [:]][task.status, default: 0] += 1 }
        return summary
    }
}
