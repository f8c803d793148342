import ArgumentParser
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecStorage
import Foundation
import Logging

/// `cloudrec_exporter [serve] | check-config FILE | probe`.
@main
struct CloudRecExporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudrec_exporter",
        abstract: "Prometheus exporter for cloud-recording tasks at Agora, ZEGO, Tencent TRTC, Alibaba Live and Alibaba IMS.",
        version: BuildInfo.versionText,
        subcommands: [Serve.self, CheckConfig.self, Probe.self, Simulators.self],
        defaultSubcommand: Serve.self)
}

struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log.level"), help: "Only log messages with the given severity or above: debug, info, warn, error.")
    var level: String = "info"

    @Option(name: .customLong("log.format"), help: "Output format of log messages: logfmt or json.")
    var format: String = "logfmt"

    func validate() throws {
        guard Logger.Level(prometheusName: level) != nil else {
            throw ValidationError("--log.level must be one of debug, info, warn, error (got \"\(level)\")")
        }
        guard LogFormat(rawValue: format) != nil else {
            throw ValidationError("--log.format must be logfmt or json (got \"\(format)\")")
        }
    }

    func makeLogger() -> Logger {
        let level = Logger.Level(prometheusName: level) ?? .info
        let format = LogFormat(rawValue: format) ?? .logfmt
        LoggingSystem.bootstrap { label in LogFormatHandler(label: label, level: level, format: format) }
        return Logger(label: "cloudrec_exporter")
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the exporter (the default command).")

    @Option(name: .customLong("config.file"), help: "Path to the configuration file.")
    var configFile: String?

    @Option(name: .customLong("web.listen-address"), help: "Address on which to expose metrics and the web interface.")
    var listenAddress: String = ":9877"

    @Option(name: .customLong("web.telemetry-path"), help: "Path under which to expose metrics.")
    var telemetryPath: String = "/metrics"

    @Option(name: .customLong("web.config.file"), help: "Path to a web configuration file (exporter-toolkit format: TLS and basic auth).")
    var webConfigFile: String?

    @Option(name: .customLong("web.read-header-timeout"), help: "How long a client may take to send a request's header, from connecting or from the request's first byte; then the connection is closed.")
    var readHeaderTimeout: String = "10s"

    @Option(name: .customLong("web.read-timeout"), help: "How long a client may take to send a whole request, header and body.")
    var readTimeout: String = "30s"

    @Option(name: .customLong("web.idle-timeout"), help: "How long a kept-alive connection may wait for its next request.")
    var idleTimeout: String = "2m"

    @Option(name: .customLong("web.max-connections"), help: "Most open HTTP connections; at the cap the longest-waiting idle or half-sent one is closed to admit a new one.")
    var maxConnections: Int = 512

    @Option(name: .customLong("storage.path"), help: "SQLite file for registered tasks and their last known state (the demo keeps state in memory unless this is given).")
    var storagePath: String?
    @Option(name: .customLong("storage.url"), help: "PostgreSQL database shared by replicas (HA): postgres://user@host:5432/db?sslmode=verify-full|require|disable. Replaces --storage.path and --shard.")
    var storageURL: String?

    @Option(name: .customLong("storage.password-file"), help: "File holding the PostgreSQL password (else CLOUDREC_STORAGE_PASSWORD).")
    var storagePasswordFile: String?

    @Option(name: .customLong("ha.replica-id"), help: "This replica's name in the shard lease table (default: host name and process id).")
    var replicaID: String?

    @Option(name: .customLong("ha.lease-duration"), help: "How long a shard lease lasts without renewal: a dead replica's tasks are polled again after at most this plus one poll interval.")
    var leaseDuration: String = "15s"

    @Option(name: .customLong("ha.resync-interval"), help: "How often the held shards' tasks are reloaded from the database (a lost notification costs at most this).")
    var resyncInterval: String = "30s"

    @Option(name: .customLong("shard"), help: "This replica's shard, 0-based (kube-state-metrics style sharding; with --total-shards).")
    var shard: Int = 0

    @Option(name: .customLong("total-shards"), help: "Number of replicas sharing the tasks; each polls and exports only its shard's tasks.")
    var totalShards: Int = 1

    @Flag(name: .customLong("demo"), help: "Start built-in vendor simulators and export their tasks; needs no config or credentials.")
    var demo = false

    @Option(name: .customLong("demo.poll-interval"), help: "With --demo: how often each task is polled (the end-to-end test uses 1s).")
    var demoPollInterval: String = "5s"

    @Option(name: .customLong("demo.task-series"), help: "With --demo: which tasks get per-task series (all, attention, none), as global.task_series.")
    var demoTaskSeries: String = "all"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ListenAddress(parsing: listenAddress) != nil else {
            throw ValidationError("--web.listen-address must look like :9877 or 127.0.0.1:9877 (got \"\(listenAddress)\")")
        }
        guard telemetryPath.hasPrefix("/"), telemetryPath.count > 1, !["/-/healthy", "/-/ready", "/-/reload"].contains(telemetryPath) else {
            throw ValidationError("--web.telemetry-path must be an absolute path other than / and /-/* (got \"\(telemetryPath)\")")
        }
        if configFile == nil, !demo { throw ValidationError("--config.file is required (or use --demo)") }
        guard TaskSeriesMode(rawValue: demoTaskSeries) != nil else {
            throw ValidationError("--demo.task-series must be one of \(TaskSeriesMode.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(demoTaskSeries.prefix(40))\")")
        }
        guard let interval = DurationParser.seconds(demoPollInterval), ConfigRanges.pollInterval.contains(interval) else {
            throw ValidationError("--demo.poll-interval must be a duration such as 5s or 500ms, \(ConfigRanges.describe(duration: ConfigRanges.pollInterval)) (got \"\(demoPollInterval.prefix(40))\")")
        }
        _ = try connectionLimits()
        guard totalShards >= 1 else { throw ValidationError("--total-shards must be at least 1 (got \(totalShards))") }
        guard ShardSelector(shard: shard, totalShards: totalShards) != nil else {
            throw ValidationError("--shard must be between 0 and --total-shards - 1 = \(totalShards - 1) (got \(shard))")
        }
        if storageURL != nil {
            guard storagePath == nil, totalShards == 1 else {
                throw ValidationError("--storage.url (shared PostgreSQL, leased shards) cannot be combined with --storage.path or --shard/--total-shards")
            }
            _ = try highAvailability()
        }
    }

    /// The shared store's settings; every number checked against ServeOptions.HighAvailability's ranges.
    func highAvailability() throws -> ServeOptions.HighAvailability? {
        guard let storageURL else { return nil }
        do {
            var location = try PostgresLocation.parse(storageURL)
            if let storagePasswordFile {
                guard let text = try? String(contentsOfFile: storagePasswordFile, encoding: .utf8) else {
                    throw ValidationError("--storage.password-file: cannot read \(storagePasswordFile)")
                }
                location.password = Secret(text.trimmingCharacters(in: .newlines))
            } else if let password = ProcessInfo.processInfo.environment["CLOUDREC_STORAGE_PASSWORD"] {
                location.password = Secret(password)
            }
            let lease = try ServeOptions.HighAvailability.seconds(leaseDuration, flag: "--ha.lease-duration", range: ServeOptions.HighAvailability.leaseRange)
            let resync = try ServeOptions.HighAvailability.seconds(resyncInterval, flag: "--ha.resync-interval", range: ServeOptions.HighAvailability.resyncRange)
            let id = replicaID ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
            // It goes into the lease table and the User-Agent of vendor requests: a host or pod name's characters only.
            guard (1...128).contains(id.utf8.count),
                  id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._:-".unicodeScalars.contains($0)) }) else {
                throw ValidationError("--ha.replica-id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-' (a host or pod name)")
            }
            return ServeOptions.HighAvailability(location: location, replicaID: id, leaseSeconds: lease, resyncSeconds: resync)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func connectionLimits() throws -> ConnectionLimits {
        var limits = ConnectionLimits()
        do {
            limits.readHeaderTimeout = try ConnectionLimits.timeout(readHeaderTimeout, flag: "--web.read-header-timeout")
            limits.readTimeout = try ConnectionLimits.timeout(readTimeout, flag: "--web.read-timeout")
            limits.idleTimeout = try ConnectionLimits.timeout(idleTimeout, flag: "--web.idle-timeout")
            limits.maxConnections = try ConnectionLimits.maxConnections(maxConnections, flag: "--web.max-connections")
            guard limits.readTimeout >= limits.readHeaderTimeout else {
                throw ConnectionLimitError("--web.read-timeout (\(readTimeout)) must not be shorter than --web.read-header-timeout (\(readHeaderTimeout))")
            }
        } catch {
            throw ValidationError("\(error)")
        }
        return limits
    }

    func run() async throws {
        let logger = logging.makeLogger()
        var options = ServeOptions()
        options.configFile = configFile
        options.listenAddress = ListenAddress(parsing: listenAddress)!
        options.telemetryPath = telemetryPath
        options.demo = demo
        options.webConfigFile = webConfigFile
        options.demoPollInterval = DurationParser.seconds(demoPollInterval) ?? 5
        options.demoTaskSeries = TaskSeriesMode(rawValue: demoTaskSeries) ?? .all
        options.highAvailability = try highAvailability()
        options.storagePath = options.highAvailability != nil ? nil : storagePath ?? (demo ? nil : "./data/cloudrec.db")
        options.shard = ShardSelector(shard: shard, totalShards: totalShards) ?? .unsharded
        options.connectionLimits = try connectionLimits()
        do {
            try await ExporterServer.run(options: options, logger: logger)
        } catch let error as ExporterStartupError {
            logger.error("cannot start", metadata: ["error": .string(error.description)])
            throw ExitCode(2)
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file; exits 0 when valid, 2 with every problem listed otherwise.")

    @Argument(help: "The configuration file to check.")
    var file: String

    func run() async throws {
        do {
            let config = try ConfigLoader().load(path: file)
            print("\(file): OK (\(config.accounts.count) accounts, \(config.tasks.count) tasks)")
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n\(file): \(error.problems.count) problem(s)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one status query for a task and print the decoded, normalised result as JSON.")

    @Option(name: .customLong("config.file"), help: "Path to the configuration file.")
    var configFile: String

    @Option(help: "The account name from the configuration.")
    var account: String

    @Option(help: "The vendor's task id (Agora: the sid).")
    var task: String

    @Option(name: .customLong("field"), help: "A vendor task field as key=value (e.g. resource_id=..., mode=mix); overrides the config's.")
    var fields: [String] = []

    @Option(name: .customLong("timeout"), help: "Request timeout in seconds.")
    var timeout: Double = 10

    func validate() throws {
        guard CheckedNumber.within(timeout, ConfigRanges.requestTimeout) != nil else {
            throw ValidationError("--timeout must be a number of seconds \(ConfigRanges.describe(duration: ConfigRanges.requestTimeout)) (got \(timeout))")
        }
    }

    func run() async throws {
        var overrides: [String: String] = [:]
        for field in fields {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--field must be key=value (got \"\(field)\")") }
            overrides[String(parts[0])] = String(parts[1])
        }
        let outcome = try await ProbeCommand.run(configFile: configFile, account: account, taskID: task, fields: overrides, timeout: timeout)
        print(outcome.json)
        if !outcome.succeeded { throw ExitCode(1) }
    }
}

/// Hidden: the vendor simulators alone, for tests that run exporter processes against them (`scripts/check_ha.py`).
struct Simulators: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the five vendor simulators and write an exporter configuration for them (for tests).", shouldDisplay: false)

    @Option(help: "Address the simulators listen on, each on a free port.")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("rate-limit"), help: "Requests per second each simulator admits; also each account's rate_limit.")
    var rateLimit: Int = 10

    @Option(name: .customLong("poll-interval"), help: "The configuration's poll interval.")
    var pollInterval: String = "5s"

    @Option(name: .customLong("config-out"), help: "Where to write the exporter configuration once the simulators listen.")
    var configOut: String

    @Option(name: .customLong("api-token"), help: "Registration API bearer token to put in the configuration (api.token).")
    var apiToken: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1 ... 100_000).contains(rateLimit) else { throw ValidationError("--rate-limit must be 1 to 100000 (got \(rateLimit))") }
        guard let interval = DurationParser.seconds(pollInterval), ConfigRanges.pollInterval.contains(interval) else {
            throw ValidationError("--poll-interval must be a duration such as 5s or 500ms, \(ConfigRanges.describe(duration: ConfigRanges.pollInterval)) (got \"\(pollInterval.prefix(40))\")")
        }
        if let apiToken, apiToken.count < 16 { throw ValidationError("--api-token must be at least 16 characters") }
    }

    func run() async throws {
        var options = SimulatorsCommand.Options()
        options.host = host
        options.rateLimit = rateLimit
        options.pollInterval = DurationParser.seconds(pollInterval) ?? 5
        options.configOut = configOut
        options.apiToken = apiToken
        try await SimulatorsCommand.run(options: options, logger: logging.makeLogger())
    }
}
