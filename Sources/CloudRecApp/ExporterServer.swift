import AsyncHTTPClient
import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecMetrics
import CloudRecPolling
import CloudRecStorage
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import ServiceLifecycle
import UnixSignals

/// Options of the `serve` command, Prometheus style.
public struct ServeOptions: Sendable {
    public var configFile: String?
    public var listenAddress = ListenAddress(host: "0.0.0.0", port: 9877)
    public var telemetryPath = "/metrics"
    public var demo = false
    /// Seconds between polls of each task in demo mode.
    public var demoPollInterval: Double = 5
    /// `--demo.task-series`: the demo's `global.task_series`.
    public var demoTaskSeries = TaskSeriesMode.all
    /// SQLite file for durable task state; nil keeps state in memory only (the demo's default).
    public var storagePath: String?
    /// `--web.config.file`: TLS and basic auth for the listener.
    public var webConfigFile: String?
    /// `--shard` / `--total-shards`.
    public var shard = ShardSelector.unsharded
    /// `--web.read-header-timeout`, `--web.read-timeout`, `--web.idle-timeout`, `--web.max-connections`.
    public var connectionLimits = ConnectionLimits()
    /// `--storage.url` and `--ha.*`: the shared PostgreSQL store and leased shards; nil keeps the SQLite mode.
    public var highAvailability: HighAvailability?

    public init() {}

    public struct HighAvailability: Sendable {
        public var location: PostgresLocation
        public var replicaID: String
        public var leaseSeconds: Double
        public var resyncSeconds: Double

        /// `--ha.lease-duration`: long enough for a renewal round trip and the fencing margin; at most 10 minutes.
        public static let leaseRange = 3.0...600.0
        /// `--ha.resync-interval`.
        public static let resyncRange = 1.0...3600.0
        /// How long start-up waits for the database before giving up.
        public static let startupTimeout = 60.0

        public init(location: PostgresLocation, replicaID: String, leaseSeconds: Double, resyncSeconds: Double) {
            self.location = location
            self.replicaID = replicaID
            self.leaseSeconds = leaseSeconds
            self.resyncSeconds = resyncSeconds
        }

        public static func seconds(_ text: String, flag: String, range: ClosedRange<Double>) throws -> Double {
            guard let value = DurationParser.seconds(text), range.contains(value) else {
                throw ExporterStartupError("\(flag) must be a duration \(ConfigRanges.describe(duration: range)) (got \"\(ExternalText.excerpt(text))\")")
            }
            return value
        }
    }
}

/// The exporter as `build` assembles it: the app and every service that runs it, and the HTTP client that must be shut
/// down after the services stop (or when a later start-up step fails).
public struct BuiltExporter: Sendable {
    public let app: ExporterApp
    public let services: [any Service]
    let httpClient: HTTPClient

    /// Runs every service until SIGTERM/SIGINT (or a service fails), then shuts the HTTP client down.
    public func run(logger: Logger) async throws {
        let group = serviceGroup(logger: logger, shutdownSignals: [.sigterm, .sigint])
        do {
            try await group.run()
        } catch {
            await shutdown()
            throw error
        }
        await shutdown()
    }

    /// The services as one group; tests and benchmarks run it and trigger its graceful shutdown themselves.
    public func serviceGroup(logger: Logger, shutdownSignals: [UnixSignal] = []) -> ServiceGroup {
        ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: shutdownSignals,
                                          logger: logger))
    }

    /// Shuts the HTTP client down, once the services have stopped.
    public func shutdown() async {
        try? await httpClient.shutdown()
    }
}

/// What an embedding (the integration tests, the benchmarks) hands `ExporterServer.build` instead of flags: a
/// configuration source other than a file, a task store it opened itself, and a callback with the bound port. The
/// rest is built exactly as `serve` builds it.
public struct ExporterEmbedding: Sendable {
    public var configSource: ConfigSource?
    public var store: SQLiteTaskStore?
    public var onListening: (@Sendable (Int) -> Void)?

    public init(configSource: ConfigSource? = nil, store: SQLiteTaskStore? = nil, onListening: (@Sendable (Int) -> Void)? = nil) {
        self.configSource = configSource
        self.store = store
        self.onListening = onListening
    }
}

/// Wires the exporter: task store, HTTP client, engine, HTTP surface, reload on SIGHUP, the demo's simulators when asked.
public enum ExporterServer {
    public static func run(options: ServeOptions, logger: Logger) async throws {
        try await build(options: options, logger: logger).run(logger: logger)
    }

    /// Builds everything `serve` runs. Every start-up failure is an `ExporterStartupError`, and whatever was started
    /// before it (the HTTP client, the task store) is shut down first: no early exit leaves a resource to trap in its
    /// deinit.
    public static func build(options: ServeOptions, logger: Logger, embedding: ExporterEmbedding = ExporterEmbedding())
        async throws -> BuiltExporter {
        var services: [any Service] = []
        var store: SQLiteTaskStore?
        var restored: [StoredTask] = []
        var retired: [TaskKey: Double] = [:]
        var shared: PostgresTaskStore?
        if let ha = options.highAvailability {
            // The schema is migrated when the store's service starts (`PostgresTaskStore.run`), retried until the
            // database answers: a replica may start before its database.
            let opened: PostgresTaskStore
            do {
                opened = try PostgresTaskStore(location: ha.location, replicaID: ha.replicaID, logger: logger)
            } catch {
                throw ExporterStartupError("task database: \(error)")
            }
            logger.info("shared task database configured", metadata: ["url": .string(ha.location.redacted), "replica": .string(ha.replicaID)])
            shared = opened
            services.append(opened)
        } else if let given = embedding.store {
            do {
                restored = try given.loadAll()
                retired = try given.loadRetired()
            } catch {
                throw ExporterStartupError("task store \(given.path): \(error)")
            }
            store = given
            services.append(given)
        } else if let path = options.storagePath {
            do {
                let opened = try SQLiteTaskStore(path: path, logger: logger)
                restored = try opened.loadAll()
                retired = try opened.loadRetired()
                store = opened
                services.append(opened)
                logger.info("task store opened", metadata: ["path": .string(path), "tasks": .stringConvertible(restored.count)])
            } catch {
                throw ExporterStartupError("task store \(path): \(error)")
            }
        }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AsyncHTTPClientTransport.clientConfiguration)
        do {
            let app = try wire(options: options, embedding: embedding, logger: logger, httpClient: httpClient, store: store,
                               shared: shared, restored: restored, retired: retired, services: &services)
            return BuiltExporter(app: app, services: services, httpClient: httpClient)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    private static func wire(options: ServeOptions, embedding: ExporterEmbedding, logger: Logger, httpClient: HTTPClient,
                             store: SQLiteTaskStore?, shared: PostgresTaskStore?, restored: [StoredTask], retired: [TaskKey: Double],
                             services: inout [any Service]) throws -> ExporterApp {
        let app: ExporterApp
        let agent = "cloudrec_exporter/\(BuildInfo.version)" + (options.highAvailability.map { " replica/\($0.replicaID)" } ?? "")
        let transport = AsyncHTTPClientTransport(client: httpClient, userAgent: agent)
        var highAvailability: (store: PostgresTaskStore, settings: ShardLeaseKeeper.Settings)?
        if let shared, let ha = options.highAvailability {
            highAvailability = (shared, ShardLeaseKeeper.Settings(leaseSeconds: ha.leaseSeconds, resyncSeconds: ha.resyncSeconds))
        }
        if let source = embedding.configSource {
            app = ExporterApp(source: source, transport: transport, logger: logger, persistence: store, shard: options.shard,
                              highAvailability: highAvailability)
            do {
                try app.start(restoring: restored, retired: retired)
            } catch {
                throw ExporterStartupError("invalid configuration:\n\(error.description)")
            }
        } else if options.demo {
            let demo = DemoEnvironment(logger: logger, pollInterval: options.demoPollInterval, taskSeries: options.demoTaskSeries)
            services += demo.hosts
            // The simulators start with the service group; the config needs their ports.
            let demoApp = ExporterApp(source: .fixed(ExporterConfig()), transport: transport, logger: logger, persistence: store,
                                      shard: options.shard, highAvailability: highAvailability)
            app = demoApp
            services.append(DemoBootstrap(demo: demo, app: demoApp, logger: logger))
            services.append(demo.driver(engine: demoApp.engine))
        } else {
            guard let configFile = options.configFile else {
                throw ExporterStartupError("--config.file is required (or use --demo)")
            }
            app = ExporterApp(source: .file(configFile), transport: transport, logger: logger, persistence: store,
                              shard: options.shard, highAvailability: highAvailability)
            do {
                try app.start(restoring: restored, retired: retired)
            } catch {
                throw ExporterStartupError("invalid configuration:\n\(error.description)")
            }
        }
        var webConfig = WebConfig(tls: nil, users: [:])
        var tls: TLSConfiguration?
        if let path = options.webConfigFile {
            do {
                webConfig = try WebConfig.load(path: path)
                tls = try webConfig.serverTLSConfiguration()
            } catch let error as ConfigErrors {
                throw ExporterStartupError("invalid web configuration:\n\(error.description)")
            } catch {
                throw ExporterStartupError("\(error)")
            }
        }
        let connections = ConnectionGuard(limits: options.connectionLimits, metrics: app.connections)
        let server = try connections.serverBuilder(tls: tls)
        warnIfDescriptorsShort(for: options.connectionLimits.maxConnections, logger: logger)
        let router = ExporterRouter.build(control: app, telemetryPath: options.telemetryPath, registry: app, callbacks: app,
                                          basicAuthUsers: webConfig.users)
        let listen = options.listenAddress
        let application = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "cloudrec_exporter"),
            onServerRunning: { channel in
                let bound = ListenAddress(host: listen.host, port: channel.localAddress?.port ?? listen.port)
                embedding.onListening?(bound.port)
                logger.info("listening", metadata: ["address": .string(bound.description),
                                                    "telemetry_path": .string(options.telemetryPath),
                                                    "shard": .string(options.shard.description)])
            },
            logger: logger)
        services += [app.engine, app.taskFiles, SignalReloader(app: app), application] as [any Service]
        if let leases = app.shared?.leases { services.append(leases) }
        return app
    }
}

/// The cap is only a protection if the process can open that many sockets besides its own files and the vendor
/// connections: say so at start when `ulimit -n` is lower.
func warnIfDescriptorsShort(for maxConnections: Int, logger: Logger) {
    let headroom = 128.0
    let limit = ProcessMetrics.maxFDs()
    guard limit > 0, limit < Double(maxConnections) + headroom else { return }
    logger.warning("the file descriptor limit is lower than --web.max-connections plus headroom; raise ulimit -n or lower the cap",
                   metadata: ["nofile": .stringConvertible(limit), "max_connections": .stringConvertible(maxConnections),
                              "headroom": .stringConvertible(headroom)])
}

/// Demo only: once the simulators listen, build the config that points at them and start the exporter on it.
struct DemoBootstrap: Service {
    let demo: DemoEnvironment
    let app: ExporterApp
    let logger: Logger

    func run() async throws {
        let config = await demo.makeConfig()
        app.startDemo(with: config)
        logger.info("demo simulators running", metadata: ["accounts": .string(config.accounts.map { "\($0.name)=\($0.endpoint)" }.joined(separator: " "))])
        try? await gracefulShutdown()
    }
}

public struct ExporterStartupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
