import CloudRecConfig
import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import PropertyBased
import Testing

/// Fuzzing, property-based: every vendor response decoder, the list decoders, the config parser and the discovery
/// file parser take mutated versions of real inputs and arbitrary bytes without crashing, and always classify.
/// `CLOUDREC_FUZZ_ITERATIONS` sets the count per property (CI: the default; longer runs on demand, e.g. 200000).
/// A crash found here becomes a fixed regression case in `regressions`.
@Suite("Fuzzing")
struct FuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["CLOUDREC_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 3000

    static let secret = "fuzz-secret-value-0123456789"

    static func account(_ vendor: Vendor) -> AccountSpec {
        let schema = VendorCatalog.schema(for: vendor)
        var fields: [String: String] = [:]
        for field in schema.accountFields where field.required {
            switch field.kind {
            case .numericID: fields[field.name] = "1400000001"
            case let .oneOf(values): fields[field.name] = values[0]
            case .text: fields[field.name] = "cn-shanghai"
            }
        }
        let credentials = Dictionary(uniqueKeysWithValues: schema.credentialFields.map { ($0, Secret(secret)) })
        return AccountSpec(name: "fuzz", vendor: vendor, endpoint: "https://example.invalid", rateLimit: 10, pollInterval: 30,
                           fields: fields, credentials: credentials)
    }

    static let task = TaskSpec(account: "fuzz", id: "task-1", fields: ["resource_id": "rid", "mode": "mix"])

    /// Real answers of every vendor, the corpus the mutations start from.
    static let seeds: [(Vendor, String)] = [
        (.agora, AgoraSimulator.seedExampleBody), (.zego, ZegoSimulator.seedExampleBody),
        (.tencentTRTC, TencentTRTCSimulator.seedExampleBody), (.alibabaLive, AlibabaLiveSimulator.seedExampleBody),
        (.alibabaIMS, AlibabaIMSSimulator.seedExampleBody),
        (.agora, #"{"web":1,"serverResponse":{"status":5,"extensionServiceState":[{"serviceName":"web_recorder_service","payload":{"state":"inProgress","onhold":true,"fileList":[{"filename":"a.m3u8","sliceStartTime":1}]}}]}}"#),
        (.zego, #"{"Code":300000003,"Message":"too frequent","RequestId":"x"}"#),
        (.tencentTRTC, #"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"m"},"RequestId":"r"}}"#),
        (.alibabaLive, #"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"Throttling.User","Message":"m"}"#),
    ]

    /// Structure-aware mutations: flip, delete, duplicate or insert bytes, splice JSON tokens, truncate.
    static func mutate(_ input: [UInt8], ops: [Int], bytes: [UInt8]) -> [UInt8] {
        var data = input
        let tokens: [[UInt8]] = ["null", "true", "[]", "{}", "\"\"", "-1", "1e309", "\"\\u0000\"", "[[[[[[", "}}}", ",", ":", "18446744073709551616"]
            .map { Array($0.utf8) }
        for (index, op) in ops.enumerated() {
            let position = data.isEmpty ? 0 : op % data.count
            let byte = bytes.isEmpty ? 0 : bytes[index % bytes.count]
            switch op % 6 {
            case 0 where !data.isEmpty: data[position] ^= byte | 1
            case 1 where !data.isEmpty: data.remove(at: position)
            case 2: data.insert(byte, at: position)
            case 3: data.insert(contentsOf: tokens[Int(byte) % tokens.count], at: position)
            case 4 where data.count > 1: data = Array(data.prefix(position))
            default: if !data.isEmpty { data.insert(contentsOf: data[position..<min(data.count, position + 8)], at: position) }
            }
        }
        return data
    }

    static func checkDecoders(_ body: [UInt8], status: Int) {
        for vendor in Vendor.allCases {
            let account = account(vendor)
            let client = VendorCatalog.makeClient(for: account)
            let result = client.interpretStatus(InboundResponse(status: status, body: body), for: task)
            #expect(result.outcome != .success || result.observation != nil, "\(vendor): success without an observation")
            #expect(!(result.message ?? "").contains(secret))
            if let lister = VendorCatalog.makeLister(for: account) {
                let query = ListQuery(status: "2", start: Date(timeIntervalSince1970: 0), end: Date())
                let page = lister.interpretList(InboundResponse(status: status, body: body), query: query, page: 1)
                #expect(page.result.outcome == .success || page.tasks.isEmpty)
            }
        }
    }

    @Test("vendor decoders survive mutated real answers")
    func mutatedAnswers() async {
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...(Self.seeds.count - 1)),
                            Gen.int(in: 0...100_000).array(of: 1...6), Gen<UInt8>.value(in: 0...255).array(of: 1...4),
                            Gen.int(in: 0...6).map { [200, 200, 200, 400, 404, 429, 500][$0] }) { seed, ops, bytes, status in
            let input = Self.mutate(Array(Self.seeds[seed].1.utf8), ops: ops, bytes: bytes)
            Self.checkDecoders(input, status: status)
        }
    }

    @Test("vendor decoders survive arbitrary bytes")
    func arbitraryBytes() async {
        await propertyCheck(count: Self.iterations, input: Gen<UInt8>.value(in: 0...255).array(of: 0...300)) { bytes in
            Self.checkDecoders(bytes, status: 200)
        }
    }

    static let validConfig = """
    global:
      poll_interval: 30s
    api:
      token: 0123456789abcdef0123
      labels: [team]
    accounts:
      - name: agora-main
        vendor: agora
        app_id: abc
        credentials: { customer_id: cid, customer_secret: "\(secret)" }
      - name: zego-main
        vendor: zego
        app_id: 123
        discover: true
        credentials: { server_secret: "\(secret)" }
    tasks:
      - { account: agora-main, id: sid-1, resource_id: rid, mode: mix }
      - { account: zego-main, id: t-1 }
    """

    @Test("the config parser survives mutated configs and never echoes a secret")
    func mutatedConfigs() async {
        await propertyCheck(count: Self.iterations, input: Gen.int(in: 0...100_000).array(of: 1...5),
                            Gen<UInt8>.value(in: 0...255).array(of: 1...4)) { ops, bytes in
            let text = String(decoding: Self.mutate(Array(Self.validConfig.utf8), ops: ops, bytes: bytes), as: UTF8.self)
            let loader = ConfigLoader(environment: [:], readFile: { _ in throw CocoaError(.fileNoSuchFile) })
            do {
                _ = try loader.parse(yaml: text, file: "fuzz.yml")
            } catch {
                #expect(!"\(error)".contains(Self.secret), "secret in: \(error)")
            }
            let parsed = TaskFileParser.parse(text, file: "fuzz.yml", accounts: [Self.account(.zego)])
            #expect(parsed.problems.allSatisfy { !$0.description.contains(Self.secret) })
        }
    }

    /// Found by `mutatedConfigs`: a lost colon made `secret "value"` one key, and the unknown-key message echoed it;
    /// a YAML syntax error in a discovery file quoted the offending line.
    @Test("regression: malformed credential lines never echo the secret", arguments: [
        "accounts:\n  - name: z\n    vendor: zego\n    app_id: 1\n    credentials: { server_secret \"\(secret)\" }\n",
        "accounts:\n  - name: z\n    vendor: zego\n    app_id: 1\n    credentials:\n      server_secret: \"\(secret)\n",
    ])
    func secretRegressions(_ text: String) {
        let loader = ConfigLoader(environment: [:], readFile: { _ in throw CocoaError(.fileNoSuchFile) })
        do {
            _ = try loader.parse(yaml: text, file: "regression.yml")
            Issue.record("expected a problem")
        } catch {
            #expect(!"\(error)".contains(Self.secret))
        }
        #expect(TaskFileParser.parse(text, file: "r.yml", accounts: []).problems.allSatisfy { !$0.description.contains(Self.secret) })
    }

    /// Found by `mutatedConfigs` (seed HNOSvGq1XfLpR4107GAcwZcDLzJPuZ2Y8k+y03Eog8w=): a duplicated fragment and an
    /// inserted comma turned the secret value into a key of `credentials`, and the unknown-key message echoed it.
    @Test("regression: a secret turned into a key is not echoed")
    func secretAsKey() {
        let text = String(decoding: Self.mutate(Array(Self.validConfig.utf8), ops: [87245, 6717], bytes: [88]), as: UTF8.self)
        let loader = ConfigLoader(environment: [:], readFile: { _ in throw CocoaError(.fileNoSuchFile) })
        do {
            _ = try loader.parse(yaml: text, file: "regression.yml")
            Issue.record("expected a problem")
        } catch {
            #expect(!"\(error)".contains(Self.secret), "secret in: \(error)")
            #expect("\(error)".contains("credentials.<key not shown>: unknown key"))
        }
    }

    /// Inputs that once crashed or misbehaved, kept as fixed cases.
    @Test("regressions", arguments: [
        "", "null", "[]", #"{"serverResponse":{"status":"5"}}"#, #"{"Response":null}"#, #"{"Code":"0","Data":[]}"#,
        #"{"RecordJob":[]}"#, #"{"TaskInfo":{"Status":null}}"#, #"{"Data":{"Status":1e309}}"#,
        // Found with CLOUDREC_FUZZ_ITERATIONS=100000: a file size past Int64.max trapped in Int64(_:).
        #"{"Code":0,"Data":{"Status":2,"RecordFiles":[{"FileId":"f","FileSize":1e19}]}}"#,
        #"{"Code":0,"Data":{"Status":2,"RecordFiles":[{"FileId":"f","FileSize":"nan"}]}}"#,
    ])
    func regressions(_ body: String) {
        Self.checkDecoders(Array(body.utf8), status: 200)
    }
}
