import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecVendors
import Foundation
import Logging
import PropertyBased
import Testing

/// Generated numbers at every numeric input: the config's numeric fields and durations, the duration parser, vendor
/// answers' numbers and every vendor's signed callback time. Nothing traps; each value is either inside its documented
/// range (`ConfigRanges`, `CallbackSupport.signedTimeRange`) or refused with its documented error.
/// `CLOUDREC_FUZZ_ITERATIONS` sets the count per property, as in `FuzzTests`.
@Suite("Input ranges")
struct InputRangeTests {
    static let iterations = FuzzTests.iterations

    /// Values an attacker or a careless operator writes where a number goes.
    static let boundaryNumbers = [
        "0", "-0", "+0", "0.0", "1", "-1", "1.5", "0.001", "1e30", "-1e30", "1e309", "-1e309", "1e-300", "1e308", "4e-324",
        "inf", "-inf", "+inf", "infinity", "Infinity", ".inf", "-.inf", "nan", "NaN", ".nan", "-nan", "0x10", "0x1p3",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "123456789012345678901234567890", "-123456789012345678901234567890", "1e3", "1E3", "1_000", "1,5", "", " 1", "abc",
        "100000", "100001", "10000", "10001", "1073741824", "1073741825", "67108864", "67108865", "1e5", "1e-3", "0.0009",
    ]

    static let boundaryDurations = [
        "0s", "0ms", "-5s", "1ms", "9ms", "10ms", "1s", "100000000000h", "99999999999999999999999999999y",
        "1\(String(repeating: "0", count: 400))s", "1y", "100y", "101y", "30d", "1w", "1d1s", "1e3s", "inf", "nans", "nan",
        "5m30h", "1h30m", "1.5s", "s", "24h", "86401s", "10m", "10m1ms", "365d", "366d", "-1h", "+1h", "1h-1m",
    ]

    /// A number as text: a boundary value, or a generated mantissa and exponent in one of several notations.
    static func numberText(form: Int, mantissa: Int, exponent: Int) -> String {
        switch form % 6 {
        case 0: return boundaryNumbers[abs(mantissa % boundaryNumbers.count)]
        case 1: return String(mantissa)
        case 2: return "\(mantissa)e\(exponent)"
        case 3: return "\(Double(mantissa) / 1000)"
        case 4: return String(mantissa) + String(repeating: "9", count: abs(exponent) % 30)
        default: return "\(mantissa % 1000)E+\(abs(exponent) % 400)"
        }
    }

    static func durationText(form: Int, mantissa: Int, exponent: Int) -> String {
        let units = ["ms", "s", "m", "h", "d", "w", "y", "", "x"]
        switch form % 4 {
        case 0: return boundaryDurations[abs(mantissa % boundaryDurations.count)]
        case 1: return "\(abs(mantissa))\(units[abs(exponent) % units.count])"
        case 2: return "\(abs(mantissa) % 100_000)h\(abs(exponent) % 60)m\(abs(mantissa) % 60)s"
        default: return numberText(form: form / 4, mantissa: mantissa, exponent: exponent) + units[abs(exponent) % units.count]
        }
    }

    // MARK: Config

    enum FieldKind: Sendable { case whole(ClosedRange<Int>), decimal(ClosedRange<Double>), duration(ClosedRange<Double>) }

    struct NumericField: Sendable {
        var path: String
        var kind: FieldKind
        /// The YAML with `VALUE` where the generated text goes.
        var yaml: String
        var read: @Sendable (ExporterConfig) -> Double?
    }

    static let account = """
    accounts:
      - name: z
        vendor: zego
        app_id: 1
        credentials: { server_secret: s3cr3t-value }
    """

    static let fields: [NumericField] = [
        NumericField(path: "global.poll_interval", kind: .duration(ConfigRanges.pollInterval),
                     yaml: "global:\n  poll_interval: \"VALUE\"\n", read: { $0.global.pollInterval }),
        NumericField(path: "global.request_timeout", kind: .duration(ConfigRanges.requestTimeout),
                     yaml: "global:\n  request_timeout: \"VALUE\"\n", read: { $0.global.requestTimeout }),
        NumericField(path: "global.ended_task_retention", kind: .duration(ConfigRanges.endedTaskRetention),
                     yaml: "global:\n  ended_task_retention: \"VALUE\"\n", read: { $0.global.endedTaskRetention }),
        NumericField(path: "global.stall_after", kind: .duration(ConfigRanges.stallAfter),
                     yaml: "global:\n  stall_after: \"VALUE\"\n", read: { $0.global.stallAfter }),
        NumericField(path: "global.unseen_task_retention", kind: .duration(ConfigRanges.unseenTaskRetention),
                     yaml: "global:\n  unseen_task_retention: \"VALUE\"\n", read: { $0.global.unseenTaskRetention }),
        NumericField(path: "global.max_task_series", kind: .whole(ConfigRanges.maxTaskSeries),
                     yaml: "global:\n  max_task_series: \"VALUE\"\n", read: { $0.global.maxTaskSeries.map(Double.init) }),
        NumericField(path: "global.max_concurrent_requests", kind: .whole(ConfigRanges.maxConcurrentRequests),
                     yaml: "global:\n  max_concurrent_requests: \"VALUE\"\n", read: { Double($0.global.maxConcurrentRequests) }),
        NumericField(path: "global.max_response_bytes", kind: .whole(ConfigRanges.maxResponseBytes),
                     yaml: "global:\n  max_response_bytes: \"VALUE\"\n", read: { Double($0.global.maxResponseBytes) }),
        NumericField(path: "api.max_body_bytes", kind: .whole(ConfigRanges.apiMaxBodyBytes),
                     yaml: "api:\n  token: 0123456789abcdef0123\n  max_body_bytes: \"VALUE\"\n", read: { $0.api.map { Double($0.maxBodyBytes) } }),
        NumericField(path: "accounts[0].rate_limit", kind: .decimal(ConfigRanges.rateLimit),
                     yaml: account + "\n    rate_limit: \"VALUE\"\n", read: { $0.accounts.first?.rateLimit }),
        NumericField(path: "accounts[0].poll_interval", kind: .duration(ConfigRanges.pollInterval),
                     yaml: account + "\n    poll_interval: \"VALUE\"\n", read: { $0.accounts.first?.pollInterval }),
        NumericField(path: "accounts[0].discover_interval", kind: .duration(ConfigRanges.discoverInterval),
                     yaml: account + "\n    discover_interval: \"VALUE\"\n", read: { $0.accounts.first?.discoverInterval }),
    ]

    struct NoTransport: VendorTransport {
        func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse {
            throw TransportFailure.connection("not in this test")
        }
    }

    static func engine() -> PollingEngine {
        PollingEngine(tracker: TaskTracker(store: TaskSeriesStore()), metrics: ExporterMetrics(version: "t", revision: "t"),
                      transport: NoTransport(), logger: Logger(label: "test"))
    }

    /// Parses `text` into `field`: accepted only inside the documented range, refused with file, line and key
    /// otherwise; an accepted config is applied to a polling engine (budgets, schedules), which must not trap either.
    static func checkConfig(_ field: NumericField, _ text: String) {
        let yaml = field.yaml.replacingOccurrences(of: "VALUE", with: text.replacingOccurrences(of: "\"", with: ""))
        let loader = ConfigLoader(environment: [:], readFile: { _ in throw CocoaError(.fileNoSuchFile) })
        do {
            let config = try loader.parse(yaml: yaml, file: "ranges.yml")
            let value = field.read(config)
            switch field.kind {
            case let .whole(range):
                #expect(value.map { range.contains(Int($0)) } == true, "\(field.path) accepted \(text)")
            case let .decimal(range), let .duration(range):
                #expect(value.map { range.contains($0) } == true, "\(field.path) accepted \(text)")
            }
            let engine = engine()
            engine.apply(config)
            _ = engine.accounts.map { engine.poller(for: $0.name)?.budget.currentRate }
        } catch {
            let problem = error.problems.first { $0.keyPath == field.path }
            #expect(problem != nil, "\(field.path) = \(text): \(error)")
            #expect(problem?.line != nil && problem?.file == "ranges.yml")
            #expect(error.problems.allSatisfy { !$0.description.contains("s3cr3t-value") })
        }
    }

    @Test("every numeric config field takes generated numbers and durations without trapping")
    func configFields() async {
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...(Self.fields.count - 1)), Gen.int(in: 0...1000),
                            Gen<Int>.value(in: Int.min / 2...Int.max / 2), Gen.int(in: -400...400)) { index, form, mantissa, exponent in
            let field = Self.fields[index]
            if case .duration = field.kind {
                Self.checkConfig(field, Self.durationText(form: form, mantissa: mantissa, exponent: exponent))
            } else {
                Self.checkConfig(field, Self.numberText(form: form, mantissa: mantissa, exponent: exponent))
            }
        }
    }

    /// The cases of the issue, fixed: `check-config`, `serve` and a reload all read these through `ConfigLoader`.
    @Test("reproduced config values are refused with file, line and key", arguments: [
        ("global.max_concurrent_requests", "1e30"), ("global.poll_interval", "100000000000h"),
        ("accounts[0].rate_limit", "12345678901234567890123"), ("global.request_timeout", "99999999999999999999999999999y"),
        ("global.max_response_bytes", "nan"), ("accounts[0].rate_limit", "inf"), ("global.ended_task_retention", "-1h"),
    ])
    func reproducedValues(_ path: String, _ text: String) throws {
        let field = try #require(Self.fields.first { $0.path == path })
        let yaml = field.yaml.replacingOccurrences(of: "VALUE", with: text)
        #expect(throws: ConfigErrors.self) {
            try ConfigLoader(environment: [:], readFile: { _ in "" }).parse(yaml: yaml, file: "bad.yml")
        }
        Self.checkConfig(field, text)
    }

    @Test("durations: parsed values are finite and at most 100 years; formatting any number never traps")
    func durations() async {
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...1000), Gen<Int>.value(in: Int.min / 2...Int.max / 2),
                            Gen.int(in: -400...400), Gen.double(in: -1e300...1e300)) { form, mantissa, exponent, number in
            let text = Self.durationText(form: form, mantissa: mantissa, exponent: exponent)
            if let seconds = DurationParser.seconds(text) {
                #expect(seconds.isFinite && seconds >= 0 && seconds <= DurationParser.maxSeconds, "\(text) → \(seconds)")
                _ = DurationParser.format(seconds)
            }
            for value in [number, -number, .nan, .infinity, -.infinity, 1e20, Double(mantissa), Double(mantissa) / 1000] {
                _ = DurationParser.format(value)
            }
        }
    }

    @Test("checked conversions agree with exact arithmetic and never trap")
    func checkedConversions() async {
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...1000), Gen<Int>.value(in: Int.min / 2...Int.max / 2),
                            Gen.int(in: -400...400), Gen.double(in: -1e300...1e300)) { form, mantissa, exponent, number in
            let text = Self.numberText(form: form, mantissa: mantissa, exponent: exponent)
            if let value = CheckedNumber.finite(text) {
                #expect(value.isFinite)
                #expect(Double(text) == value)
            }
            for value in [number, number / 1e290, .nan, .infinity, -.infinity, Double(mantissa), -0.0] {
                if let whole = CheckedNumber.whole(value, in: -1000...1000) { #expect(Double(whole) == value) }
                if let truncated = CheckedNumber.truncated(value) { #expect(Double(truncated) == value.rounded(.towardZero)) }
                #expect(CheckedNumber.nanoseconds(value) >= 0)
                #expect(JSONValue.number(value).doubleValue?.isFinite ?? true)
                _ = JSONValue.string(text).intValue
                _ = JSONValue.string(text).int64Value
                _ = CheckedNumber.describe(value)
            }
        }
    }

    // MARK: Callbacks

    static let callbackSecret = "callback-secret-0123456789"

    /// A signed callback for `vendor` whose time field holds `time` (raw JSON text, a JSON string, or absent).
    static func signedCallback(_ vendor: Vendor, time: String?, quoted: Bool, nonce: Int) -> (headers: [String: String], body: [UInt8]) {
        let value = time.map { quoted ? "\"\($0)\"" : $0 }
        switch vendor {
        case .agora:
            let notify = value.map { #","notifyMs":\#($0)"# } ?? ""
            let body = Array(#"{"noticeId":"n\#(nonce)","productId":3,"eventType":40\#(notify),"payload":{"sid":"sid-\#(nonce)","cname":"c","uid":"1","sequence":\#(nonce),"serviceType":0,"details":{}}}"#.utf8)
            return ([AgoraCallback.signatureV2Header: AgoraCallback.signatureV2(body: body, secret: callbackSecret)], body)
        case .tencentTRTC:
            let ts = value.map { #","CallbackTs":\#($0)"# } ?? ""
            let body = Array(#"{"EventGroupId":3,"EventType":301\#(ts),"EventInfo":{"RoomId":"r","UserId":"u","TaskId":"t-\#(nonce)","Payload":{"Status":0}}}"#.utf8)
            return ([TencentTRTCCallback.signatureHeader: TencentTRTCCallback.sign(body: body, key: callbackSecret)], body)
        case .zego:
            let timestamp = time ?? ""
            let signature = ZegoCallback.signature(secret: callbackSecret, timestamp: timestamp, nonce: "n\(nonce)")
            let stamp = time.map { #","timestamp":"\#($0)""# } ?? ""
            let body = Array(#"{"app_id":1,"task_id":"t-\#(nonce)","room_id":"r","event_type":5,"message":"","nonce":"n\#(nonce)"\#(stamp),"signature":"\#(signature)","sequence":\#(nonce),"detail":{}}"#.utf8)
            return ([:], body)
        case .alibabaLive:
            let timestamp = time ?? ""
            var headers = [AlibabaLiveCallback.signatureHeader: AlibabaLiveCallback.signature(timestamp: timestamp, key: callbackSecret)]
            if let time { headers[AlibabaLiveCallback.timestampHeader] = time }
            let body = Array(#"{"appId":"a","channelId":"c","taskId":"t-\#(nonce)","eventType":"TaskStopped","callbackTs":1,"payload":""}"#.utf8)
            return (headers, body)
        case .alibabaIMS:
            return ([:], [])
        }
    }

    static let callbackVendors: [Vendor] = [.agora, .tencentTRTC, .zego, .alibabaLive]

    static func callbackIntake(now: Double) -> CallbackIntake {
        let engine = engine()
        var config = ExporterConfig()
        config.accounts = callbackVendors.map { vendor in
            var account = FuzzTests.account(vendor)
            account.name = vendor.rawValue
            account.credentials[VendorCallbacks.secretField] = Secret(callbackSecret)
            return account
        }
        engine.apply(config)
        return CallbackIntake(engine: engine, logger: Logger(label: "test"), clock: { now })
    }

    /// Signed times are in seconds (ZEGO, Alibaba's header) or milliseconds (Agora's `notifyMs`, Tencent's `CallbackTs`).
    static func usesMilliseconds(_ vendor: Vendor) -> Bool { vendor == .agora || vendor == .tencentTRTC }

    @Test("signed callbacks with generated times: refused with a 4xx unless inside the window, never a trap")
    func callbackTimes() async {
        let now = 1_750_000_000.0
        let intake = Self.callbackIntake(now: now)
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...(Self.callbackVendors.count - 1)), Gen.int(in: 0...1000),
                            Gen<Int>.value(in: Int.min / 2...Int.max / 2), Gen.int(in: -400...400), Gen.int(in: -1200...1200)) {
            index, form, mantissa, exponent, offset in
            let vendor = Self.callbackVendors[index]
            let scale = Self.usesMilliseconds(vendor) ? 1000.0 : 1
            let time: String? = switch form % 4 {
            case 0: nil
            case 1: CheckedNumber.describe(((now + Double(offset)) * scale).rounded())
            default: Self.numberText(form: form / 4, mantissa: mantissa, exponent: exponent)
            }
            let request = Self.signedCallback(vendor, time: time, quoted: form % 3 == 0, nonce: mantissa)
            let reply = intake.receive(account: vendor.rawValue, headers: request.headers, body: request.body)
            #expect([200, 400, 401].contains(reply.status), "\(vendor) \(time ?? "<none>") → \(reply.status)")
            if reply.status == 200 {
                let seconds = time.flatMap { CheckedNumber.finite($0) }.map { $0 / scale }
                #expect(seconds.map { abs($0 - now) <= CallbackReplayGuard.defaultWindow } == true,
                        "\(vendor) accepted time \(time ?? "<none>")")
            }
        }
    }

    /// The issue's reproduced callbacks: each is refused (4xx) and the intake keeps answering.
    @Test("reproduced callback times are refused", arguments: [Vendor.agora, .tencentTRTC, .zego, .alibabaLive])
    func reproducedCallbackTimes(_ vendor: Vendor) {
        let intake = Self.callbackIntake(now: 1_750_000_000)
        for (index, time) in ["1e99", "inf", "-1e300", "nan", "NaN", "-inf", "1e309", "123456789012345678901234567890"].enumerated() {
            for quoted in [false, true] {
                let request = Self.signedCallback(vendor, time: time, quoted: quoted, nonce: index * 2 + (quoted ? 1 : 0))
                let reply = intake.receive(account: vendor.rawValue, headers: request.headers, body: request.body)
                #expect((400...401).contains(reply.status), "\(vendor) \(time) quoted=\(quoted) → \(reply.status)")
            }
        }
        // No time at all: refused, so its replay can never pass once the replay memory forgot it.
        let untimed = Self.signedCallback(vendor, time: nil, quoted: false, nonce: 999)
        #expect((400...401).contains(intake.receive(account: vendor.rawValue, headers: untimed.headers, body: untimed.body).status))
        // A good one still goes through.
        let scale = Self.usesMilliseconds(vendor) ? 1000.0 : 1
        let good = Self.signedCallback(vendor, time: CheckedNumber.describe(1_750_000_000 * scale), quoted: false, nonce: 1000)
        #expect(intake.receive(account: vendor.rawValue, headers: good.headers, body: good.body).status == 200)
    }

    @Test("an unknown account's name is not echoed whole")
    func unknownAccountEcho() {
        let intake = Self.callbackIntake(now: 1_750_000_000)
        let name = String(repeating: "a", count: 10_000)
        let reply = intake.receive(account: name, headers: [:], body: [])
        #expect(reply.status == 404)
        #expect(reply.body.serialized().count < 200)
    }
}
