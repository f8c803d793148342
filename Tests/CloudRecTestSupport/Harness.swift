import AsyncHTTPClient
import CloudRecApp
import CloudRecConfig
import CloudRecCore
import CloudRecHTTP
import CloudRecPolling
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecStorage
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Runs simulators on loopback ports and a real exporter (engine + HTTP server on a free port) against them.
public struct Harness: Sendable {
    public let exporter: ExporterApp
    public let accounts: [SimulatedAccount]
    public let port: Int
    /// Each account's simulator, same order as `accounts` (its `/_sim/` control API included).
    public let simulatorURLs: [String]

    public var metricsURL: String { "http://127.0.0.1:\(port)/metrics" }

    /// `configure` adjusts the generated config (intervals, tasks) before the exporter starts. With a `store`, tasks
    /// are persisted there (its write-behind loop runs with the exporter) and the registration API is served.
    public static func run(accounts: [SimulatedAccount], source: ((ExporterConfig) throws -> ConfigSource)? = nil,
                    store: SQLiteTaskStore? = nil,
                    configure: (inout ExporterConfig) -> Void = { _ in },
                    _ body: (Harness) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let hosts = accounts.map { SimulatorHost(simulator: $0.simulator, logger: logger) }
        let simulatorGroup = ServiceGroup(services: hosts, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { outer in
            outer.addTask { try await simulatorGroup.run() }
            var config = ExporterConfig(source: "<test>")
            config.global.pollInterval = 0.2
            config.global.requestTimeout = 2
            for (index, account) in accounts.enumerated() {
                config.accounts.append(AccountSpec(
                    name: account.name, vendor: account.vendor, endpoint: await hosts[index].baseURL(),
                    rateLimit: 50, pollInterval: 0.2, fields: account.fields, credentials: account.credentials.mapValues(Secret.init)))
            }
            configure(&config)
            let configSource = try source?(config) ?? .fixed(config)
            // Built exactly as `serve` builds it (ExporterServer.build): the same router, connection guard, signal
            // reloader, task file watcher and store wiring; only the config source, the store and the port differ.
            var options = ServeOptions()
            options.listenAddress = ListenAddress(host: "127.0.0.1", port: 0)
            let boundPort = PortBox()
            let built = try await ExporterServer.build(options: options, logger: logger, embedding: ExporterEmbedding(
                configSource: configSource, store: store, onListening: { boundPort.set($0) }))
            let exporterGroup = built.serviceGroup(logger: logger)
            outer.addTask { try await exporterGroup.run() }
            var failure: (any Error)?
            do {
                let port = try await boundPort.wait()
                var simulatorURLs: [String] = []
                for host in hosts { simulatorURLs.append(await host.baseURL()) }
                try await body(Harness(exporter: built.app, accounts: accounts, port: port, simulatorURLs: simulatorURLs))
            } catch {
                failure = error
            }
            await exporterGroup.triggerGracefulShutdown()
            await simulatorGroup.triggerGracefulShutdown()
            try await outer.waitForAll()
            await built.shutdown()
            if let failure { throw failure }
        }
    }

    public func scrape(headers: [(String, String)] = []) async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        try await Self.request(metricsURL, headers: headers)
    }

    public func metrics() async throws -> Metrics {
        let response = try await scrape()
        return Metrics(text: String(decoding: response.body, as: UTF8.self))
    }

    public static func request(_ url: String, method: NIOHTTP1.HTTPMethod = .GET, headers: [(String, String)] = [], body: [UInt8]? = nil)
        async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await rawClient.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        var headerMap: [String: String] = [:]
        for header in response.headers { headerMap[header.name.lowercased()] = header.value }
        return (Int(response.status.code), headerMap, Array(buffer: body))
    }

    public func account(_ vendor: Vendor) -> SimulatedAccount { accounts.first { $0.vendor == vendor }! }
}

/// A client that hands bodies back as sent (HTTPClient.shared inflates gzip itself, which would hide our encoding).
public let rawClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(decompression: .disabled))

/// Waits for a condition by re-checking it; fails the test with `message` when it does not hold in time.
public func eventually(_ message: @autoclosure () -> String, timeout: Double = 45,
                _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out after \(timeout)s waiting for: \(message())")
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public final class PortBox: Sendable {
    private let port = Mutex<Int?>(nil)
    public init() {}
    public func set(_ value: Int) { port.withLock { $0 = value } }
    public func wait() async throws -> Int {
        var found: Int?
        try await eventually("exporter listening") {
            found = port.withLock { $0 }
            return found != nil
        }
        return found!
    }
}

/// A parsed text-format scrape, for assertions by name and labels.
public struct Metrics: Sendable {
    public struct Sample: Sendable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public let text: String
    public let samples: [Sample]

    public init(text: String) {
        self.text = text
        samples = text.split(separator: "\n").compactMap(Metrics.parse)
    }

    public static func parse(_ line: Substring) -> Sample? {
        guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
        let series = line[..<space]
        guard let value = Double(line[line.index(after: space)...].replacingOccurrences(of: "+Inf", with: "inf")) else { return nil }
        guard let brace = series.firstIndex(of: "{") else { return Sample(name: String(series), labels: [:], value: value) }
        var labels: [String: String] = [:]
        var rest = series[series.index(after: brace)...].dropLast()
        while let eq = rest.firstIndex(of: "=") {
            let key = String(rest[..<eq])
            var index = rest.index(eq, offsetBy: 2)
            var value = ""
            while rest[index] != "\"" {
                if rest[index] == "\\" {
                    index = rest.index(after: index)
                    value.append(rest[index] == "n" ? "\n" : rest[index])
                } else {
                    value.append(rest[index])
                }
                index = rest.index(after: index)
            }
            labels[key] = value
            rest = rest[rest.index(after: index)...]
            if rest.hasPrefix(",") { rest = rest.dropFirst() }
        }
        return Sample(name: String(series[..<brace]), labels: labels, value: value)
    }

    public func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
    }

    public func has(_ name: String, _ labels: [String: String]) -> Bool { value(name, labels) != nil }

    /// The status whose state-set sample is 1.
    public func status(account: String, task: String) -> String? {
        samples.first { $0.name == "cloudrec_task_status" && $0.labels["account"] == account && $0.labels["task_id"] == task && $0.value == 1 }?
            .labels["status"]
    }

    public func outcomes(account: String, _ outcome: String) -> Double {
        value("cloudrec_api_requests_total", ["account": account, "outcome": outcome]) ?? 0
    }
}
