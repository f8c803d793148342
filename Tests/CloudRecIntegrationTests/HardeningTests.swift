import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecTestSupport
import CloudRecVendors
import Foundation
import NIOHTTP1
import Testing

/// The reproduced ways to stop or degrade the running binary (issue "no input may stop the exporter"), each as a
/// regression: numbers out of range in `check-config`, at start and on reload (SIGHUP and `POST /-/reload`); signed
/// callbacks whose time is out of range or missing; a damaged task database at start; label values with NUL bytes,
/// echoed 10 KB account names and the bearer scheme's case.
@Suite("Hardening against the real binary", .serialized)
struct HardeningTests {
    static let callbackSecret = "zego-callback-secret-0123456789"

    /// One bad number of each class, at the field where it was reproduced.
    static let badValues: [(name: String, yaml: String)] = [
        ("max_concurrent_requests 1e30", "global:\n  max_concurrent_requests: 1e30\n"),
        ("poll_interval 100000000000h", "global:\n  poll_interval: 100000000000h\n"),
        ("request_timeout of 30 digits", "global:\n  request_timeout: 999999999999999999999999999999y\n"),
        ("max_response_bytes nan", "global:\n  max_response_bytes: nan\n"),
        ("ended_task_retention negative", "global:\n  ended_task_retention: -5m\n"),
        ("rate_limit of 23 digits", "RATE:12345678901234567890123"),
        ("rate_limit inf", "RATE:.inf"),
        ("rate_limit -1e300", "RATE:-1e300"),
    ]

    static func config(zego: SimulatedAccount, endpoint: String, extra: String = "") -> String {
        var rate = "10"
        var global = ""
        if extra.hasPrefix("RATE:") { rate = String(extra.dropFirst(5)) } else { global = extra }
        return """
        \(global)api:
          token: \(DiscoveryTests.token)
          labels: [team]
        accounts:
          - name: zego-h
            vendor: zego
            endpoint: \(endpoint)
            app_id: \(zego.fields["app_id"]!)
            rate_limit: \(rate)
            credentials: { server_secret: "\(zego.credentials["server_secret"]!)", callback_secret: "\(callbackSecret)" }
        """
    }

    /// Runs the binary to its exit (at most `timeout` seconds, then it is killed and the test fails).
    static func runToExit(_ arguments: [String], timeout: Double = 30) async throws -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
        process.arguments = arguments
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: err) }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        do {
            try await eventually("\(arguments.first ?? "") exits", timeout: timeout) { !process.isRunning }
        } catch {
            process.terminate()
            process.waitUntilExit()
            throw error
        }
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason, (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// The simulator's URL, from the config `DiscoveryTests.withZego` wrote.
    static func zegoEndpoint(_ directory: URL) async throws -> String {
        let text = try String(contentsOf: directory.appendingPathComponent("config.yml"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("endpoint:") })
        return String(line.split(separator: " ").last ?? "")
    }

    static func metric(_ base: String, _ name: String, _ labels: String = "") async throws -> Double? {
        let text = String(decoding: try await Harness.request(base + "/metrics").body, as: UTF8.self)
        let prefix = labels.isEmpty ? name + " " : name + "{" + labels + "} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test("check-config and serve refuse every class of bad number with exit 2 and file, line and key")
    func badNumbersAtStart() async throws {
        try await DiscoveryTests.withZego { zego, _, directory in
            for (name, extra) in Self.badValues {
                let path = directory.appendingPathComponent("bad.yml").path
                try Self.config(zego: zego, endpoint: "http://127.0.0.1:1", extra: extra).write(toFile: path, atomically: true, encoding: .utf8)
                let check = try await Self.runToExit(["check-config", path])
                #expect(check.reason == .exit && check.status == 2, "\(name): check-config \(check.reason) \(check.status)")
                #expect(check.stderr.contains("\(path):"), "\(name): \(check.stderr)")
                let serve = try await Self.runToExit(["--config.file", path, "--storage.path", directory.appendingPathComponent("s.db").path,
                                                      "--web.listen-address", "127.0.0.1:\(DiscoveryTests.freePort())"])
                #expect(serve.reason == .exit && serve.status == 2, "\(name): serve \(serve.reason) \(serve.status)")
                #expect(!check.stderr.contains(Self.callbackSecret) && !serve.stderr.contains(Self.callbackSecret))
            }
        }
    }

    @Test("a damaged or unreadable task database ends start-up with exit 2 and the storage error")
    func damagedDatabase() async throws {
        try await DiscoveryTests.withZego { _, config, directory in
            let damaged = directory.appendingPathComponent("damaged.db").path
            try Data(repeating: 0xAB, count: 64 * 1024).write(to: URL(fileURLWithPath: damaged))
            let notAFile = directory.appendingPathComponent("a-directory.db").path
            try FileManager.default.createDirectory(atPath: notAFile, withIntermediateDirectories: true)
            for storage in [damaged, notAFile] {
                let result = try await Self.runToExit(["--config.file", config, "--storage.path", storage,
                                                       "--web.listen-address", "127.0.0.1:\(DiscoveryTests.freePort())"])
                #expect(result.reason == .exit && result.status == 2, "\(storage): \(result.reason) \(result.status) \(result.stderr)")
                #expect(result.stderr.contains("task store"), "\(result.stderr)")
                #expect(!result.stderr.contains("not shut down"))
            }
        }
    }

    @Test("reloads with every class of bad number keep the running exporter on its old configuration")
    func badNumbersOnReload() async throws {
        try await DiscoveryTests.withZego { zego, _, directory in
            let path = directory.appendingPathComponent("hardening.yml").path
            let host = try await Self.zegoEndpoint(directory)
            try Self.config(zego: zego, endpoint: host, extra: "").write(toFile: path, atomically: true, encoding: .utf8)
            let exporter = try DiscoveryTests.ExporterProcess(config: path, storage: directory.appendingPathComponent("r.db").path,
                                                              port: DiscoveryTests.freePort())
            defer { exporter.stop() }
            try await exporter.waitReady()
            let hashBefore = try await Self.metric(exporter.base, "cloudrec_config_hash")
            var failures = 0.0
            for (name, extra) in Self.badValues {
                try Self.config(zego: zego, endpoint: host, extra: extra).write(toFile: path, atomically: true, encoding: .utf8)
                let post = try await Harness.request(exporter.base + "/-/reload", method: .POST)
                #expect(post.status >= 400, "\(name): POST /-/reload answered \(post.status)")
                failures += 1
                kill(exporter.pid, SIGHUP)
                failures += 1
                let expected = failures
                try await eventually("\(name): both reloads counted as failures") {
                    (try? await Self.metric(exporter.base, "cloudrec_config_reloads_total", #"result="failure""#)) == expected
                }
                #expect(exporter.process.isRunning, "\(name): the exporter died")
                #expect(try await Self.metric(exporter.base, "cloudrec_config_hash") == hashBefore, "\(name)")
                #expect(try await Harness.request(exporter.base + "/-/healthy").status == 200)
            }
        }
    }

    @Test("signed callbacks with times out of range, not a number or missing are refused; the exporter keeps serving")
    func badCallbackTimes() async throws {
        try await DiscoveryTests.withZego { zego, _, directory in
            let path = directory.appendingPathComponent("callbacks.yml").path
            try Self.config(zego: zego, endpoint: try await Self.zegoEndpoint(directory), extra: "")
                .write(toFile: path, atomically: true, encoding: .utf8)
            let exporter = try DiscoveryTests.ExporterProcess(config: path, storage: directory.appendingPathComponent("c.db").path,
                                                              port: DiscoveryTests.freePort())
            defer { exporter.stop() }
            try await exporter.waitReady()
            let now = String(Int(Date().timeIntervalSince1970))
            for (index, timestamp) in ["1e99", "inf", "-1e300", "nan", "NaN", "-inf", "1e309", "123456789012345678901234567890", "", now].enumerated() {
                let nonce = "nonce-\(index)"
                let signature = ZegoCallback.signature(secret: Self.callbackSecret, timestamp: timestamp, nonce: nonce)
                let body = #"{"app_id":1,"task_id":"cb-\#(index)","room_id":"r","event_type":5,"message":"","nonce":"\#(nonce)","timestamp":"\#(timestamp)","signature":"\#(signature)","sequence":1,"detail":{}}"#
                let response = try await Harness.request(exporter.base + "/callbacks/zego-h", method: .POST,
                                                         headers: [("Content-Type", "application/json")], body: Array(body.utf8))
                if timestamp == now {
                    #expect(response.status == 200)
                } else {
                    #expect((400...401).contains(response.status), "timestamp \(timestamp) → \(response.status)")
                }
                #expect(exporter.process.isRunning, "timestamp \(timestamp) stopped the exporter")
            }
            #expect(try await Harness.request(exporter.base + "/metrics").status == 200)
        }
    }

    @Test("NUL bytes in label values are refused, long account names are not echoed, the bearer scheme is case-insensitive")
    func smallerThings() async throws {
        try await DiscoveryTests.withZego { _, config, directory in
            let exporter = try DiscoveryTests.ExporterProcess(config: config, storage: directory.appendingPathComponent("s.db").path,
                                                              port: DiscoveryTests.freePort())
            defer { exporter.stop() }
            try await exporter.waitReady()
            let nul = try await DiscoveryTests.api(exporter.base, .PUT, "/api/v1/tasks/zego-d/nul-task", body: #"{"labels":{"team":"a\u0000b"}}"#)
            #expect(nul.status == 400)
            let longName = String(repeating: "a", count: 10_000)
            let unknown = try await Harness.request(exporter.base + "/api/v1/tasks/\(longName)/t1", method: .PUT,
                                                    headers: [("Authorization", "Bearer \(DiscoveryTests.token)")], body: Array("{}".utf8))
            #expect(unknown.status == 404)
            #expect(unknown.body.count < 300, "the 404 echoed \(unknown.body.count) bytes")
            let callback = try await Harness.request(exporter.base + "/callbacks/\(longName)", method: .POST, body: Array("{}".utf8))
            #expect(callback.status == 404 && callback.body.count < 300)
            for scheme in ["bearer", "BEARER", "Bearer"] {
                let response = try await Harness.request(exporter.base + "/api/v1/tasks", headers: [("Authorization", "\(scheme) \(DiscoveryTests.token)")])
                #expect(response.status == 200, "scheme \(scheme)")
            }
            #expect(try await Harness.request(exporter.base + "/metrics").status == 200)
        }
    }
}
