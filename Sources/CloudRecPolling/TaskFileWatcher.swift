import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// File discovery in the manner of Prometheus `file_sd`: the `task_files` globs are re-checked every few seconds,
/// a changed file is re-read, and the union of all files' tasks is what the `file` source tracks. A broken file is
/// reported (log and `cloudrec_discovery_file_load_successful{path}` = 0) and its previous content kept.
public final class TaskFileWatcher: Service, Sendable {
    struct FileState {
        var modified: Date
        var size: Int
        var tasks: [TaskSpec]
    }

    private let engine: PollingEngine
    private let logger: Logger
    private let patterns = Mutex<[String]>([])
    private let files = Mutex<[String: FileState]>([:])
    /// One refresh at a time: a reload's refresh and the timer's would otherwise both read the old file states and
    /// apply their changes over each other.
    private let refreshing = Mutex(())
    private let refreshSeconds: Double
    public let loadSuccessful = GaugeFamily(
        name: "cloudrec_discovery_file_load_successful", help: "Whether the last read of a task discovery file succeeded.",
        labelNames: ["path"])
    public let fileTasks = GaugeFamily(
        name: "cloudrec_discovery_file_tasks", help: "Tasks listed in a task discovery file (its last good content).",
        labelNames: ["path"])
    public let loadErrors = CounterFamily(
        name: "cloudrec_discovery_file_errors_total", help: "Failed reads of task discovery files.", labelNames: ["path"])

    public init(engine: PollingEngine, logger: Logger, refreshSeconds: Double = 5) {
        self.engine = engine
        self.logger = logger
        self.refreshSeconds = refreshSeconds
    }

    public var families: [any ExposedFamily] { [loadSuccessful, fileTasks, loadErrors] }

    /// Called on every (re)load of the configuration.
    public func setPatterns(_ newPatterns: [String]) {
        patterns.withLock { $0 = newPatterns }
        refresh()
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // The sleep ends at a graceful shutdown: SIGTERM does not wait out the refresh interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(self.refreshSeconds)) }
            guard !Task.isShuttingDownGracefully else { return }
            refresh()
        }
    }

    /// Re-reads changed files and makes the `file` source match their union.
    public func refresh() {
        refreshing.withLock { _ in refreshNow() }
    }

    private func refreshNow() {
        let paths = Set(patterns.withLock { $0 }.flatMap(Self.glob))
        let accounts = engine.accounts
        var known = files.withLock { $0 }
        for path in known.keys where !paths.contains(path) {
            known.removeValue(forKey: path)
            loadSuccessful.remove([path])
            fileTasks.remove([path])
        }
        for path in paths.sorted() {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let modified = attributes[.modificationDate] as? Date, let size = attributes[.size] as? Int else { continue }
            if let previous = known[path], previous.modified == modified, previous.size == size { continue }
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                fail(path, "cannot read: \(error.localizedDescription)")
                continue
            }
            let parsed = TaskFileParser.parse(text, file: path, accounts: accounts)
            if !parsed.problems.isEmpty {
                fail(path, parsed.problems.map(\.description).joined(separator: "; "))
                // Keep the previous content, but do not re-read the same broken bytes every few seconds.
                known[path] = FileState(modified: modified, size: size, tasks: known[path]?.tasks ?? [])
                continue
            }
            known[path] = FileState(modified: modified, size: size, tasks: parsed.tasks)
            loadSuccessful.set([path], 1)
            fileTasks.set([path], Double(parsed.tasks.count))
        }
        files.withLock { $0 = known }
        apply(known.values.flatMap(\.tasks))
    }

    private func fail(_ path: String, _ reason: String) {
        loadSuccessful.set([path], 0)
        loadErrors.increment([path])
        logger.error("task discovery file not loaded, keeping its previous content", metadata: ["path": .string(path), "error": .string(reason)])
    }

    private func apply(_ specs: [TaskSpec]) {
        let wanted = Dictionary(specs.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        for task in engine.tracker.all where task.sources.contains(.file) && wanted[task.key] == nil {
            engine.untrack(task.key, source: .file)
        }
        for spec in wanted.values {
            let existing = engine.tracker.task(spec.key)
            if existing?.sources.contains(.file) == true, existing?.spec.fields == spec.fields.merging(existing?.spec.fields ?? [:]) { _, old in old } {
                continue
            }
            do {
                try engine.track(spec, source: .file)
            } catch {
                logger.warning("task from a discovery file not tracked", metadata: ["task": .string(spec.key.description), "error": .string("\(error)")])
            }
        }
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in result.gl_pathv[index].map { String(cString: $0) } }
    }
}
