import AsyncHTTPClient
import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecPolling
import Hummingbird
import Logging
import ServiceLifecycle

/// Options of the `serve` command, Prometheus style.
public struct ServeOptions: Sendable {
    public var configFile: String?
    public var listenAddress = ListenAddress(host: "0.0.0.0", port: 9877)
    public var telemetryPath = "/metrics"
    public var demo = false
    /// `--shard` / `--total-shards`.
    public var shard = ShardSelector.unsharded

    public init() {}
}

/// Wires the exporter: HTTP client, engine, HTTP surface, reload on SIGHUP, the demo's simulators when asked.
public enum ExporterServer {
    public static func run(options: ServeOptions, logger: Logger) async throws {
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(5)), connectionPool: .init(idleTimeout: .seconds(60))))
        var services: [any Service] = []
        let app: ExporterApp
        if options.demo {
            let demo = DemoEnvironment(logger: logger)
            services += demo.hosts
            // The simulators start with the service group; the config needs their ports.
            let demoApp = ExporterApp(source: .fixed(ExporterConfig()), transport: AsyncHTTPClientTransport(client: httpClient), logger: logger,
                                      shard: options.shard)
            app = demoApp
            services.append(DemoBootstrap(demo: demo, app: demoApp, logger: logger))
            services.append(demo.driver(engine: demoApp.engine))
        } else {
            guard let configFile = options.configFile else {
                throw ExporterStartupError("--config.file is required (or use --demo)")
            }
            app = ExporterApp(source: .file(configFile), transport: AsyncHTTPClientTransport(client: httpClient), logger: logger,
                              shard: options.shard)
            do {
                try app.start()
            } catch {
                throw ExporterStartupError("invalid configuration:\n\(error.description)")
            }
        }
        let router = ExporterRouter.build(control: app, telemetryPath: options.telemetryPath)
        let listen = options.listenAddress
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "cloudrec_exporter"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": .string("\(channel.localAddress?.description ?? listen.description)"),
                                                    "telemetry_path": .string(options.telemetryPath),
                                                    "shard": .string(options.shard.description)])
            },
            logger: logger)
        services += [app.engine, SignalReloader(app: app), application] as [any Service]
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
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
