import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import CloudRecSimulators
import CloudRecTestSupport
import CloudRecVendors
import Logging
import Testing

/// Every simulator fault at every vendor, through the poller's classification: each lands in the outcome an SRE
/// would expect, whatever the vendor's envelope. (The fault suite drives the same faults over real sockets at one
/// vendor with a running exporter; this covers the five decoders.)
@Suite("Fault classification at every vendor")
struct FaultClassificationTests {
    static let settings = PollingSettings(requestTimeout: 1, maxResponseBytes: 64 * 1024)

    static func outcome(of fault: Fault?, at account: SimulatedAccount) async -> PollResult {
        let spec = AccountSpec(name: account.name, vendor: account.vendor, endpoint: "http://127.0.0.1:1", rateLimit: 10,
                               pollInterval: 10, fields: account.fields, credentials: account.credentials.mapValues(Secret.init))
        let task = TaskSpec(account: account.name, id: "t1", fields: account.taskFields("t1"))
        if account.book.task("t1") == nil {
            account.book.start(id: "t1", fields: account.taskFields("t1"))
            account.book.addFile("t1", name: "t1.mp4", format: .mp4)
        }
        account.simulator.faults.set(fault)
        defer { account.simulator.faults.set(nil) }
        let poller = AccountPoller(account: spec, client: VendorCatalog.makeClient(for: spec), tracker: TaskTracker(store: .init()),
                                   metrics: .init(version: "", revision: ""),
                                   transport: CountingSimulatorTransport(simulator: account.simulator), concurrencyLimit: 1,
                                   settings: { settings }, logger: Logger(label: "test"))
        return await poller.call(task, settings: settings)
    }

    @Test("every fault lands in its outcome", arguments: [Vendor.agora, .zego, .tencentTRTC, .alibabaLive, .alibabaIMS])
    func classification(vendor: Vendor) async {
        let account = SimulatorFleet.demoAccounts().first { $0.vendor == vendor }!
        #expect(await Self.outcome(of: nil, at: account).outcome == .success)
        let expected: [(Fault, PollOutcome)] = [
            (.httpStatus(500), .serverError), (.httpStatus(502), .serverError), (.httpStatus(503), .serverError),
            (.delay(2), .timeout), (.slowDrip(bytesPerSecond: 20), .timeout), (.connectionReset, .transportError),
            (.truncatedBody, .transportError), (.notJSON, .decodeError), (.wrongShape, .decodeError),
            (.hugeBody(bytes: 1 << 20), .decodeError), (.throttle, .throttled),
            // An hour off (a time zone mistake) is outside every window (Tencent and ZEGO 5 min, Alibaba 15 min).
            // Agora authenticates with HTTP Basic: no timestamp, so a skewed clock changes nothing there.
            (.clockSkew(3600), vendor == .agora ? .success : .authError),
        ]
        for (fault, outcome) in expected {
            let result = await Self.outcome(of: fault, at: account)
            #expect(result.outcome == outcome, "\(vendor.rawValue) \(fault.name): \(result.outcome) \(result.vendorCode ?? "") \(result.message ?? "")")
        }
        #expect(await Self.outcome(of: nil, at: account).outcome == .success, "the simulator answers normally once the fault is off")
    }
}
