import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecSimulatorServer
import CloudRecSimulators
import Foundation
import Logging
import ServiceLifecycle

/// `--demo`: every vendor simulator on a loopback port, tasks in varied and changing states, and a config that
/// points the exporter at them. No credentials or network needed. Tasks created through a simulator's control
/// API (`POST <simulator>/_sim/tasks`, see `SimulatorControl`) are tracked by the exporter too.
public final class DemoEnvironment: Sendable {
    public let accounts: [SimulatedAccount]
    public let hosts: [SimulatorHost]
    public let scenarios: [DemoScenario]
    public let pollInterval: Double
    public let taskSeries: TaskSeriesMode

    public init(logger: Logger, pollInterval: Double = 5, taskSeries: TaskSeriesMode = .all) {
        accounts = SimulatorFleet.demoAccounts()
        var simulatorLogger = logger
        simulatorLogger.logLevel = .warning
        hosts = accounts.map { SimulatorHost(simulator: $0.simulator, logger: simulatorLogger, taskFields: $0.taskFields) }
        scenarios = accounts.map { DemoScenario(account: $0) }
        self.pollInterval = pollInterval
        self.taskSeries = taskSeries
    }

    /// Seeds the simulators and builds the exporter config; waits for the simulators to listen.
    public func makeConfig() async -> ExporterConfig {
        var global = GlobalConfig()
        global.pollInterval = pollInterval
        global.taskSeries = taskSeries
        global.endedTaskRetention = 600
        var config = ExporterConfig(global: global, source: "<demo>")
        for (index, account) in accounts.enumerated() {
            let ids = scenarios[index].seed()
            let spec = AccountSpec(name: account.name, vendor: account.vendor, endpoint: await hosts[index].baseURL(),
                                   rateLimit: 10, pollInterval: pollInterval, fields: account.fields,
                                   credentials: account.credentials.mapValues(Secret.init))
            config.accounts.append(spec)
            config.tasks += ids.map { TaskSpec(account: account.name, id: $0, fields: account.taskFields($0)) }
        }
        return config
    }

    /// Advances the lifecycles and registers new recordings with the engine, as an application server would.
    public func driver(engine: PollingEngine) -> some Service {
        DemoDriver(environment: self, engine: engine)
    }
}

struct DemoDriver: Service {
    let environment: DemoEnvironment
    let engine: PollingEngine
    let stepSeconds = 2.0

    func run() async throws {
        for (index, host) in environment.hosts.enumerated() {
            let account = environment.accounts[index].name
            host.control.onTaskCreated { [engine] task in
                _ = try? engine.track(TaskSpec(account: account, id: task.id, fields: task.fields), source: .api)
            }
        }
        var step = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await Task.sleep(for: .seconds(stepSeconds))
            step += 1
            let now = Date().timeIntervalSince1970
            for (index, scenario) in environment.scenarios.enumerated() {
                let account = environment.accounts[index]
                for id in scenario.advance(now: now, elapsed: stepSeconds, step: step) {
                    _ = try? engine.track(TaskSpec(account: account.name, id: id, fields: account.taskFields(id)), source: .discovery)
                }
            }
        }
    }
}
