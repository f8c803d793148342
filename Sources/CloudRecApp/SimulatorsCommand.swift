import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import Foundation
import Logging
import ServiceLifecycle

/// `cloudrec_exporter simulators` (hidden): the five vendor simulators of the demo, without its scenarios or an
/// exporter, for tests that run exporters as separate processes (`scripts/check_ha.py`). Once every simulator
/// listens it writes an exporter configuration pointing at them (one account each, no tasks) and prints `ready`;
/// then it serves until SIGTERM/SIGINT. Tasks are created through each simulator's control API and its request log
/// tells who polled them (`SimulatorControl`).
public enum SimulatorsCommand {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        /// Requests per second each simulator admits (its `SimRateLimiter`), and each account's `rate_limit`.
        public var rateLimit = 10
        /// Seconds; the configuration's `global.poll_interval` and each account's.
        public var pollInterval: Double = 5
        public var configOut = ""
        /// Written as `api.token` (the registration API is off without one).
        public var apiToken: String?

        public init() {}
    }

    public static func run(options: Options, logger: Logger) async throws {
        var simulatorLogger = logger
        simulatorLogger.logLevel = .warning
        let accounts = SimulatorFleet.demoAccounts()
        for account in accounts { account.simulator.limiter.setLimit(options.rateLimit) }
        let hosts = accounts.map {
            SimulatorHost(simulator: $0.simulator, host: options.host, logger: simulatorLogger, taskFields: $0.taskFields)
        }
        // Unstructured: a host that fails to bind never reports a port, and the failing group must not wait for this.
        let announce = Task {
            var endpoints: [String] = []
            for host in hosts { endpoints.append(await host.baseURL()) }
            let text = config(accounts: accounts, endpoints: endpoints, options: options)
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: options.configOut), options: .atomic)
            } catch {
                logger.error("cannot write the configuration", metadata: ["path": .string(options.configOut), "error": "\(error)"])
                exit(2)
            }
            logger.info("simulators running", metadata: [
                "accounts": .string(zip(accounts, endpoints).map { "\($0.name)=\($1)" }.joined(separator: " ")),
                "config": .string(options.configOut),
            ])
            FileHandle.standardOutput.write(Data("ready\n".utf8))
        }
        let group = ServiceGroup(configuration: .init(services: hosts.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { announce.cancel() }
        try await group.run()
    }

    /// The exporter configuration for the running simulators, in the format `ConfigLoader` reads.
    public static func config(accounts: [SimulatedAccount], endpoints: [String], options: Options) -> String {
        func quoted(_ text: String) -> String { JSONValue.string(text).serialized() }
        let milliseconds = Int((options.pollInterval * 1000).rounded())
        let interval = milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
        var lines = ["# Written by `cloudrec_exporter simulators`: one account per running simulator.",
                     "global:", "  poll_interval: \(interval)"]
        if let token = options.apiToken { lines += ["api:", "  token: \(quoted(token))"] }
        lines.append("accounts:")
        for (account, endpoint) in zip(accounts, endpoints) {
            lines += ["  - name: \(quoted(account.name))", "    vendor: \(account.vendor.rawValue)",
                      "    endpoint: \(quoted(endpoint))", "    rate_limit: \(options.rateLimit)",
                      "    poll_interval: \(interval)"]
            lines += account.fields.sorted { $0.key < $1.key }.map { "    \($0.key): \(quoted($0.value))" }
            lines.append("    credentials:")
            lines += account.credentials.sorted { $0.key < $1.key }.map { "      \($0.key): \(quoted($0.value))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
