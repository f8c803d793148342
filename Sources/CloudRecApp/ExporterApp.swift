import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecMetrics
import CloudRecPolling
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
    public let logger: Logger
    private let source: Mutex<ConfigSource>
    private let loader: ConfigLoader
    private let ready = Atomic<Bool>(false)
    private let current = Mutex<ExporterConfig?>(nil)

    public init(source: ConfigSource, transport: any VendorTransport, logger: Logger,
                loader: ConfigLoader = ConfigLoader(), persistence: (any TaskPersistence)? = nil,
                shard: ShardSelector = .unsharded) {
        self.source = Mutex(source)
        self.loader = loader
        self.logger = logger
        tracker = TaskTracker(store: store, persistence: persistence)
        metrics = ExporterMetrics(version: BuildInfo.version, revision: BuildInfo.revision)
        engine = PollingEngine(tracker: tracker, metrics: metrics, transport: transport, logger: logger, shard: shard)
        taskFiles = TaskFileWatcher(engine: engine, logger: logger)
        callbacks = CallbackIntake(engine: engine, logger: logger)
        exposition = MetricsExposition(store: store, families: metrics.families + engine.scrapeFamilies() + taskFiles.families
            + callbacks.families + (persistence?.metricFamilies ?? []) + ProcessMetrics.families())
    }

    public var version: String { BuildInfo.version }
    public var isReady: Bool { ready.load(ordering: .relaxed) }
    public var config: ExporterConfig? { current.withLock { $0 } }

    /// Loads the configuration for the first time; a bad one is fatal at start (the caller exits non-zero).
    /// `restored` are the tasks from the durable store.
    public func start(restoring restored: [TrackedTask] = []) throws(ConfigErrors) {
        let config = try loadConfig()
        engine.restore(restored)
        apply(config)
        ready.store(true, ordering: .relaxed)
    }

    /// Demo mode: the config only exists once the simulators listen.
    public func startDemo(with config: ExporterConfig) {
        source.withLock { $0 = .fixed(config) }
        apply(config)
        ready.store(true, ordering: .relaxed)
    }

    public func reload() async -> String? {
        do {
            let config = try loadConfig()
            apply(config)
            logger.info("configuration reloaded", metadata: ["accounts": .stringConvertible(config.accounts.count),
                                                            "tasks": .stringConvertible(config.tasks.count)])
            return nil
        } catch {
            metrics.configReloadSuccessful.set([], 0)
            logger.error("configuration reload failed, keeping the running configuration", metadata: ["error": .string(error.description)])
            return error.description
        }
    }

    private func loadConfig() throws(ConfigErrors) -> ExporterConfig {
        switch source.withLock({ $0 }) {
        case let .file(path): return try loader.load(path: path)
        case let .fixed(config): return config
        }
    }

    private func apply(_ config: ExporterConfig) {
        engine.apply(config)
        current.withLock { $0 = config }
        taskFiles.setPatterns(config.taskFiles)
        metrics.configReloadSuccessful.set([], 1)
        metrics.configReloadTimestamp.set([], Date().timeIntervalSince1970.rounded())
    }

    // MARK: TaskRegistry (the /api/v1 registration API)

    public var apiConfig: APIConfig? { config?.api }

    public func account(named name: String) -> AccountSpec? { config?.account(named: name) }

    public func register(_ spec: TaskSpec) throws -> (isNew: Bool, task: TrackedTask) {
        let isNew = try engine.track(spec, source: .api, durable: true)
        guard let task = tracker.task(spec.key) else { throw UnknownAccount(name: spec.account) }
        return (isNew, task)
    }

    public func unregister(_ key: TaskKey) -> Bool {
        guard tracker.task(key)?.sources.contains(.api) == true else { return false }
        engine.untrack(key, source: .api)
        return true
    }

    public func trackedTasks() -> [TrackedTask] { tracker.all }
    public func trackedTask(_ key: TaskKey) -> TrackedTask? { tracker.task(key) }

    public func renderMetrics(_ format: ExpositionFormat) -> [UInt8] { exposition.render(format) }

    public func taskSummary() -> [Vendor: [TaskStatus: Int]] {
        var summary: [Vendor: [TaskStatus: Int]] = [:]
        for account in engine.accounts { summary[account.vendor, default: [:]] = summary[account.vendor] ?? [:] }
        for task in tracker.all { summary[task.vendor, default: [:]][task.status, default: 0] += 1 }
        return summary
    }
}
