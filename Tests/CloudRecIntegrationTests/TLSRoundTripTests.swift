import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite("TLS to the vendors")
struct TLSRoundTripTests {
    /// Calls that never got an answer: the refused handshake surfaces as transport_error (or as timeout when the
    /// client keeps retrying the connection until the request deadline).
    static func failures(_ exporter: ExporterApp, _ account: String) -> Double {
        ["transport_error", "timeout"].reduce(0) { $0 + exporter.metrics.apiRequests.value(["agora", account, "query", $1]) }
    }

    @Test("a simulator served over HTTPS is polled when tls_ca_file names its CA, and refused without it")
    func roundTrip() async throws {
        let certificates = try ThrowawayCA.make(in: FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-tls-\(UUID().uuidString)").path)
        defer { certificates.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let account = AgoraSimulator.demoAccount(clock: SimClock(), name: "agora-tls")
        account.book.start(id: "tls-task", fields: account.taskFields("tls-task"))
        let host = SimulatorHost(simulator: account.simulator, tls: certificates.tls, logger: logger)
        let simulatorGroup = ServiceGroup(services: [host], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulatorGroup.run() }
            let endpoint = await host.baseURL()
            #expect(endpoint.hasPrefix("https://127.0.0.1:"))

            // The config file path: tls_ca_file is validated and reaches the account.
            let configPath = certificates.directory + "/exporter.yml"
            try """
            global: { poll_interval: 200ms, request_timeout: 5s }
            accounts:
              - name: trusted
                vendor: agora
                endpoint: \(endpoint)
                tls_ca_file: \(certificates.caFile)
                rate_limit: 4
                app_id: \(account.fields["app_id"]!)
                credentials: { customer_id: \(account.credentials["customer_id"]!), customer_secret: \(account.credentials["customer_secret"]!) }
              - name: untrusted
                vendor: agora
                endpoint: \(endpoint)
                rate_limit: 4
                app_id: \(account.fields["app_id"]!)
                credentials: { customer_id: \(account.credentials["customer_id"]!), customer_secret: \(account.credentials["customer_secret"]!) }
            tasks:
              - { account: trusted, id: tls-task, resource_id: rid-tls-task, mode: mix }
              - { account: untrusted, id: tls-task, resource_id: rid-tls-task, mode: mix }
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
            let exporter = ExporterApp(source: .file(configPath), transport: AsyncHTTPClientTransport(client: .shared), logger: logger)
            try exporter.start()
            #expect(exporter.config?.account(named: "trusted")?.tlsCAFile == certificates.caFile)
            group.addTask { try await exporter.engine.run() }

            let trusted = TaskKey(account: "trusted", taskID: "tls-task")
            try await eventually("the trusted account's task is running and the untrusted account's calls fail") {
                exporter.tracker.task(trusted)?.status == .running
                    && Self.failures(exporter, "untrusted") > 0
            }
            #expect(Self.failures(exporter, "trusted") == 0)
            #expect(exporter.metrics.apiRequests.value(["agora", "untrusted", "query", "success"]) == 0)
            #expect(exporter.tracker.task(TaskKey(account: "untrusted", taskID: "tls-task"))?.status == .unknown)
            #expect(account.simulator.stats.count(.answered) > 0)

            group.cancelAll()
            await simulatorGroup.triggerGracefulShutdown()
        }
    }
}
