import CloudRecCore
import CloudRecMetrics
import CloudRecVendors
import Foundation
import Logging
import Synchronization

/// Receives vendor callbacks for `POST /callbacks/{account}`: finds the account, verifies the vendor's signature,
/// refuses replays, applies the events to the tracker (a start event starts tracking an unknown task, durably) and
/// counts every request in `cloudrec_callbacks_total{vendor,account,event,result}`. Label values stay bounded:
/// `vendor` and `account` are empty for unknown accounts (the path is not trusted), and `event` is the vendor's
/// documented event, `other`, or empty when the callback was refused before it could be read.
public final class CallbackIntake: Sendable {

    public let counter = CounterFamily(
        name: "cloudrec_callbacks_total",
        help: "Vendor recording callbacks received, by the vendor's event and the result (accepted, rejected_signature, rejected_replay, malformed, unknown_account, not_configured, error).",
        labelNames: ["vendor", "account", "event", "result"])
    private let engine: PollingEngine
    /// HA: records a task a start callback announced when another replica owns it (set by the app).
    public let handOff: (@Sendable (TaskSpec, Vendor) -> Void)?
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let guards = Mutex<[String: CallbackReplayGuard]>([:])

    public init(engine: PollingEngine, logger: Logger, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                handOff: (@Sendable (TaskSpec, Vendor) -> Void)? = nil) {
        self.engine = engine
        self.handOff = handOff
        self.logger = logger
        self.clock = clock
    }

    public var families: [any ExposedFamily] { [counter] }

    /// `body` nil: the request was larger than `CallbackReply.maxBodyBytes`.
    public func receive(account name: String, headers: [String: String], body: [UInt8]?) -> CallbackReply {
        guard let account = engine.poller(for: name)?.account else {
            return reply(404, "no account named \"\(ExternalText.excerpt(name))\"", .unknownAccount, vendor: "", account: "")
        }
        let vendor = account.vendor.rawValue
        guard let handler = VendorCatalog.schema(for: account.vendor).callbackHandler else {
            return reply(404, "vendor \(vendor) documents no verifiable recording callbacks", .notConfigured, vendor: vendor, account: name)
        }
        guard let secret = account.credentials[VendorCallbacks.secretField], !secret.isEmpty else {
            return reply(404, "callbacks are not configured for account \"\(name)\" (set credentials.\(VendorCallbacks.secretField))",
                         .notConfigured, vendor: vendor, account: name)
        }
        guard let body else {
            return reply(413, "body larger than \(CallbackReply.maxBodyBytes) bytes", .malformed, vendor: vendor, account: name)
        }
        let decoded: DecodedCallback
        do {
            decoded = try handler.open(CallbackRequest(headers: headers, body: body), secret: secret.reveal())
        } catch {
            switch error {
            case let .signature(reason):
                logger.debug("callback signature rejected", metadata: ["account": .string(name), "reason": .string(reason)])
                return reply(401, "signature rejected: \(reason)", .rejectedSignature, vendor: vendor, account: name)
            case let .malformed(reason):
                return reply(400, "malformed callback: \(reason)", .malformed, vendor: vendor, account: name)
            }
        }
        let now = clock()
        let replayGuard = guards.withLock { all in
            if let existing = all[name] { return existing }
            let created = CallbackReplayGuard()
            all[name] = created
            return created
        }
        switch replayGuard.admit(decoded, now: now) {
        case .fresh: break
        case let .outsideWindow(skew):
            return reply(401, "replay rejected: signed time is \(CheckedNumber.describe(skew.rounded())) s from ours (window \(CheckedNumber.describe(replayGuard.window)) s)",
                         .rejectedReplay, vendor: vendor, account: name, event: decoded.event)
        case .timeUnknown:
            return reply(400, "malformed callback: its signed time is missing or not a number", .malformed, vendor: vendor,
                         account: name, event: decoded.event)
        case .duplicate:
            return reply(401, "replay rejected: this callback was already accepted", .rejectedReplay, vendor: vendor, account: name,
                         event: decoded.event)
        }
        do {
            try apply(decoded, account: account, now: now)
        } catch {
            replayGuard.forget(decoded)
            logger.error("callback not stored", metadata: ["account": .string(name), "error": .string("\(error)")])
            return reply(503, "callback not stored: \(error)", .error, vendor: vendor, account: name, event: decoded.event)
        }
        counter.increment([vendor, name, decoded.event, CallbackResult.accepted.rawValue])
        return CallbackReply(status: 200, body: handler.acknowledgement, result: .accepted)
    }

    /// Start events for untracked tasks start tracking them (source `callback`, durable); events for tasks the exporter
    /// does not track are acknowledged and dropped.
    func apply(_ decoded: DecodedCallback, account: AccountSpec, now: Double) throws {
        for event in decoded.events {
            let key = TaskKey(account: account.name, taskID: event.taskID)
            if event.kind == .started, !engine.ownership.keeps(key) {
                // HA: another replica polls it; the shared store tells that replica (`handOff`).
                handOff?(TaskSpec(account: account.name, id: event.taskID), account.vendor)
                continue
            }
            if event.kind == .started {
                if try engine.track(TaskSpec(account: account.name, id: event.taskID), source: .callback, durable: true) {
                    logger.info("tracking a task announced by a callback", metadata: [
                        "account": .string(account.name), "task_id": .string(event.taskID), "event": .string(decoded.event),
                    ])
                }
            }
            let before = engine.tracker.task(key)?.status
            guard let updated = engine.tracker.recordCallback(key, events: [event], name: decoded.event, now: now) else { continue }
            if before != updated.status {
                logger.info("task status changed by a callback", metadata: [
                    "account": .string(account.name), "task_id": .string(event.taskID),
                    "from": .string(before?.rawValue ?? ""), "to": .string(updated.status.rawValue),
                    "event": .string(decoded.event), "reason": .string(event.reason ?? ""),
                ])
            }
        }
    }

    private func reply(_ status: Int, _ message: String, _ result: CallbackResult, vendor: String, account: String,
                       event: String = "") -> CallbackReply {
        counter.increment([vendor, account, event, result.rawValue])
        return CallbackReply(status: status, body: .obj(("error", .string(message))), result: result)
    }
}
