import AsyncHTTPClient
import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecVendors
import Foundation
import Logging

/// `cloudrec_exporter probe`: one status call, printed as JSON. Never prints credentials: the request is shown
/// as method and URL only, and vendors that sign in the query (ZEGO, Alibaba RPC v1) have the signature masked.
public enum ProbeCommand {
    public struct Outcome: Sendable {
        public var json: String
        public var succeeded: Bool
    }

    public static func run(configFile: String, account name: String, taskID: String, fields: [String: String],
                           timeout: Double, transport: (any VendorTransport)? = nil) async throws -> Outcome {
        let config: ExporterConfig
        do {
            config = try ConfigLoader().load(path: configFile)
        } catch {
            throw ExporterStartupError("invalid configuration:\n\(error.description)")
        }
        guard let account = config.account(named: name) else {
            throw ExporterStartupError("no account named \"\(name)\" in \(configFile) (accounts: \(config.accounts.map(\.name).joined(separator: ", ")))")
        }
        let configured = config.tasks.first { $0.account == name && $0.id == taskID }
        let spec = TaskSpec(account: name, id: taskID, fields: (configured?.fields ?? [:]).merging(fields) { _, new in new })
        let client = VendorCatalog.makeClient(for: account)
        let settings = PollingSettings(requestTimeout: timeout, maxResponseBytes: config.global.maxResponseBytes)
        let started = Date()
        let result: PollResult
        if let transport {
            result = await probe(client: client, spec: spec, transport: transport, settings: settings)
        } else {
            let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
            result = await probe(client: client, spec: spec, transport: AsyncHTTPClientTransport(client: httpClient), settings: settings)
            try await httpClient.shutdown()
        }
        let elapsed = Date().timeIntervalSince(started)
        let json = render(account: account, api: client.statusAPIName, spec: spec, result: result, seconds: elapsed)
        return Outcome(json: redact(json, account: account), succeeded: result.outcome == .success)
    }

    static func probe(client: any VendorClient, spec: TaskSpec, transport: any VendorTransport, settings: PollingSettings) async -> PollResult {
        let poller = AccountPoller(account: client.account, client: client, tracker: TaskTracker(store: .init()),
                                   metrics: .init(version: "", revision: ""), transport: transport, concurrencyLimit: 1,
                                   settings: { settings }, logger: Logger(label: "probe"))
        return await poller.call(spec, settings: settings)
    }

    static func render(account: AccountSpec, api: String, spec: TaskSpec, result: PollResult, seconds: Double) -> String {
        var pairs: [(String, JSONValue?)] = [
            ("account", .string(account.name)), ("vendor", .string(account.vendor.rawValue)), ("api", .string(api)),
            ("endpoint", .string(account.endpoint)), ("task_id", .string(spec.id)),
            ("outcome", .string(result.outcome.rawValue)),
            ("vendor_code", result.vendorCode.map(JSONValue.string)), ("message", result.message.map(JSONValue.string)),
            ("retry_after_seconds", result.retryAfter.map(JSONValue.number)),
            ("duration_seconds", .number((seconds * 1000).rounded() / 1000)),
        ]
        if let observation = result.observation {
            let files: [JSONValue] = observation.files.map { file in
                .obj(("name", .string(file.name)), ("format", .string(file.format.rawValue)),
                     ("upload_state", file.uploadState.map { .string($0.rawValue) }), ("size_bytes", file.sizeBytes.map { .number(Double($0)) }),
                     ("duration_seconds", file.durationSeconds.map(JSONValue.number)), ("start_time", file.startTime.map(JSONValue.number)))
            }
            pairs.append(("observation", .obj(
                ("status", .string(observation.status.rawValue)), ("vendor_status", .string(observation.vendorStatus)),
                ("start_time", observation.startTime.map(JSONValue.number)), ("end_time", observation.endTime.map(JSONValue.number)),
                ("reports_upload_states", .bool(observation.reportsUploadStates)), ("files", .array(files)))))
        }
        return JSONValue.object(pairs.compactMap { key, value in value.map { (key, $0) } }).serialized()
    }

    /// Last line of defence: no credential value may appear in the output, whatever a vendor echoed back.
    static func redact(_ text: String, account: AccountSpec) -> String {
        var out = text
        for secret in account.credentials.values where secret.reveal().count >= 4 {
            out = out.replacingOccurrences(of: secret.reveal(), with: "<redacted>")
        }
        return out
    }
}
