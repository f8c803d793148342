import CloudRecApp
import CloudRecCore
import CloudRecSimulatorServer
import CloudRecSimulators
import CloudRecTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The real binary reloaded dozens of times (SIGHUP and `POST /-/reload`) while scrapers, polls and registrations run:
/// every scrape is complete and shows exactly one configuration, nothing registered is lost, polling goes on.
@Suite("Reload under a burst of scrapes and polls", .serialized)
struct ReloadBurstTests {
    /// One valid version of the config file and what `/metrics` must show while it runs.
    struct Version: Sendable {
        let name: String
        let text: String
        let hash: Double
        let accounts: Set<String>
        /// `account/task_id` of the config file's tasks.
        let tasks: Set<String>
    }

    struct AccountLine {
        let account: SimulatedAccount
        let endpoint: String
        let rateLimit: Int
        let pollInterval: String
    }

    static func version(_ name: String, accounts: [AccountLine], tasks: [(SimulatedAccount, String)]) -> Version {
        var text = """
        global:
          poll_interval: 300ms
          request_timeout: 2s
        api:
          token: \(DiscoveryTests.token)
        accounts:

        """
        for line in accounts {
            text += """
              - name: \(line.account.name)
                vendor: \(line.account.vendor.rawValue)
                endpoint: \(line.endpoint)
                rate_limit: \(line.rateLimit)
                poll_interval: \(line.pollInterval)

            """
            for (key, value) in line.account.fields.sorted(by: { $0.key < $1.key }) { text += "    \(key): \"\(value)\"\n" }
            let credentials = line.account.credentials.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }
            text += "    credentials: { \(credentials.joined(separator: ", ")) }\n"
        }
        text += "tasks:\n"
        for (account, id) in tasks {
            let fields = account.taskFields(id).sorted { $0.key < $1.key }.map { ", \($0.key): \($0.value)" }.joined()
            text += "  - { account: \(account.name), id: \(id)\(fields) }\n"
        }
        return Version(name: name, text: text, hash: ExporterApp.metricValue(ShardSelector.fnv1a64(text)),
                       accounts: Set(accounts.map(\.account.name)), tasks: Set(tasks.map { "\($0.0.name)/\($0.1)" }))
    }

    /// Replaces the file in one step (write aside, rename), as config management tools do.
    static func write(_ text: String, to path: String) throws {
        let aside = path + ".tmp"
        try text.write(toFile: aside, atomically: false, encoding: .utf8)
        guard rename(aside, path) == 0 else { throw TestFailure("rename failed: \(errno)") }
    }

    /// Everything wrong with one scrape body; empty when it is complete and shows exactly one of `versions`.
    static func problems(_ body: String, versions: [Version], registeredBefore: Set<String>, attempted: Set<String>) -> [String] {
        guard body.hasSuffix("\n") else { return ["body does not end with a newline"] }
        var problems: [String] = []
        var types: [String: String] = [:]
        var helped = Set<String>()
        var current = ""
        for line in body.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.split(separator: " ")[2])
                if !helped.insert(name).inserted { problems.append("family \(name) appears twice") }
                current = name
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, String(parts[2]) == current else {
                    problems.append("TYPE without its HELP: \(line)")
                    continue
                }
                types[current] = String(parts[3])
            } else if line.isEmpty || line.hasPrefix("#") {
                problems.append("unexpected line: \(line)")
            } else if let sample = Metrics.parse(line) {
                var family = sample.name
                for suffix in ["_bucket", "_sum", "_count"] where family.hasSuffix(suffix) && types[String(family.dropLast(suffix.count))] == "histogram" {
                    family = String(family.dropLast(suffix.count))
                }
                if family != current || types[family] == nil { problems.append("sample outside its family's HELP/TYPE: \(line)") }
            } else {
                problems.append("unparsable line: \(line)")
            }
        }
        guard problems.isEmpty else { return problems }

        let metrics = Metrics(text: body)
        for family in ["cloudrec_exporter_build_info", "cloudrec_config_last_reload_successful", "cloudrec_config_reloads_total",
                       "cloudrec_tasks", "cloudrec_api_requests_total", "cloudrec_task_status", "cloudrec_task_info",
                       "process_start_time_seconds"] where types[family] == nil {
            problems.append("family \(family) missing")
        }
        guard let hash = metrics.value("cloudrec_config_hash", [:]), let version = versions.first(where: { $0.hash == hash }) else {
            return problems + ["cloudrec_config_hash \(String(describing: metrics.value("cloudrec_config_hash", [:]))) is no version's"]
        }
        func accounts(_ name: String) -> Set<String> {
            Set(metrics.samples.filter { $0.name == name }.compactMap { $0.labels["account"] })
        }
        for name in ["cloudrec_tasks", "cloudrec_api_requests_total", "cloudrec_poll_budget_utilization", "cloudrec_poll_lag_seconds"]
            where accounts(name) != version.accounts {
            problems.append("\(name) has accounts \(accounts(name).sorted()), config \(version.name) has \(version.accounts.sorted())")
        }
        let infos = metrics.samples.filter { $0.name == "cloudrec_task_info" }.map { ($0.labels["account"] ?? "", $0.labels["task_id"] ?? "") }
        let configured = Set(infos.filter { !$0.1.hasPrefix("api-") }.map { "\($0.0)/\($0.1)" })
        if configured != version.tasks {
            problems.append("config \(version.name): missing tasks \(version.tasks.subtracting(configured).sorted()), "
                + "extra tasks \(configured.subtracting(version.tasks).sorted())")
        }
        let registered = Set(infos.filter { $0.1.hasPrefix("api-") }.map(\.1))
        if !registeredBefore.isSubset(of: registered) {
            problems.append("registered tasks missing: \(registeredBefore.subtracting(registered).sorted())")
        }
        if !registered.isSubset(of: attempted) { problems.append("unknown registered tasks: \(registered.subtracting(attempted).sorted())") }
        for account in version.accounts {
            let counted = metrics.samples.filter { $0.name == "cloudrec_tasks" && $0.labels["account"] == account }.reduce(0) { $0 + $1.value }
            let exported = infos.filter { $0.0 == account }.count
            if Int(counted) != exported { problems.append("cloudrec_tasks counts \(Int(counted)) tasks of \(account), \(exported) are exported") }
        }
        return problems
    }

    /// What the scrapers saw.
    final class ScrapeLog: Sendable {
        private let state = Mutex<(scrapes: Int, byVersion: [String: Int], problems: [String])>((0, [:], []))
        func record(version: String?, problems: [String]) {
            state.withLock { s in
                s.scrapes += 1
                if let version { s.byVersion[version, default: 0] += 1 }
                if s.problems.count < 20 { s.problems += problems.prefix(5).map { "scrape \(s.scrapes): \($0)" } }
            }
        }
        var snapshot: (scrapes: Int, byVersion: [String: Int], problems: [String]) { state.withLock { $0 } }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    @Test("SIGHUP and POST /-/reload during a burst of scrapes, polls and registrations lose nothing and serve no half-built state")
    func reloadBurst() async throws {
        let clock = SimClock()
        let agora = AgoraSimulator.demoAccount(clock: clock, name: "agora-r")
        let zego = ZegoSimulator.demoAccount(clock: clock, name: "zego-r")
        let tencent = TencentTRTCSimulator.demoAccount(clock: clock, name: "tencent-r")
        let ids = Self.ids
        for id in ids("a", 0..<20) { agora.book.start(id: id, fields: agora.taskFields(id)) }
        for id in ids("z", 0..<20) + ids("api", 0..<30) { zego.book.start(id: id) }
        for id in ids("t", 0..<10) { tencent.book.start(id: id) }

        var logger = Logger(label: "test")
        logger.logLevel = .error
        let hosts = [agora, zego, tencent].map { SimulatorHost(simulator: $0.simulator, logger: logger) }
        let simulators = ServiceGroup(services: hosts, logger: logger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let done = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulators.run() }
            var failure: (any Error)?
            do { try await burst(&group, done: done, simulated: (agora, zego, tencent), hosts: hosts, directory: directory) } catch { failure = error }
            done.set()
            await simulators.triggerGracefulShutdown()
            try await group.waitForAll()
            if let failure { throw failure }
        }
    }

    static func ids(_ prefix: String, _ range: Range<Int>) -> [String] { range.map { String(format: "\(prefix)-%02d", $0) } }

    /// Runs the exporter and the burst; the scrapers join `group` and stop when `done` is set.
    func burst(_ group: inout ThrowingTaskGroup<Void, any Error>, done: Flag, simulated: (SimulatedAccount, SimulatedAccount, SimulatedAccount),
           hosts: [SimulatorHost], directory: URL) async throws {
        let (agora, zego, tencent) = simulated
        let ids = Self.ids
        let endpoints = await (hosts[0].baseURL(), hosts[1].baseURL(), hosts[2].baseURL())
        // A: two accounts; B: zego-r slower and with a lower rate limit, a third account at a third vendor, and
        // tasks added and removed. Tasks a-00…a-09 and z-00…z-09 are in both.
        let a = Self.version("A", accounts: [
            AccountLine(account: agora, endpoint: endpoints.0, rateLimit: 8, pollInterval: "300ms"),
            AccountLine(account: zego, endpoint: endpoints.1, rateLimit: 8, pollInterval: "300ms"),
        ], tasks: ids("a", 0..<15).map { (agora, $0) } + ids("z", 0..<15).map { (zego, $0) })
        let b = Self.version("B", accounts: [
            AccountLine(account: agora, endpoint: endpoints.0, rateLimit: 8, pollInterval: "300ms"),
            AccountLine(account: zego, endpoint: endpoints.1, rateLimit: 6, pollInterval: "500ms"),
            AccountLine(account: tencent, endpoint: endpoints.2, rateLimit: 15, pollInterval: "300ms"),
        ], tasks: (ids("a", 0..<10) + ids("a", 15..<20)).map { (agora, $0) } + (ids("z", 0..<10) + ids("z", 15..<20)).map { (zego, $0) }
            + ids("t", 0..<10).map { (tencent, $0) })
        let versions = [a, b]
        let configPath = directory.appendingPathComponent("config.yml").path
        let logPath = directory.appendingPathComponent("exporter.log").path
        try Self.write(a.text, to: configPath)

        let exporter = try DiscoveryTests.ExporterProcess(config: configPath, storage: directory.appendingPathComponent("data/c.db").path,
                                                          port: DiscoveryTests.freePort(), logFile: logPath)
        defer { exporter.stop() }
        try await exporter.waitReady()
        let base = exporter.base
        func metrics() async throws -> Metrics {
            Metrics(text: String(decoding: try await Harness.request(base + "/metrics").body, as: UTF8.self))
        }
        func reloads(_ result: String) async throws -> Double {
            try await metrics().value("cloudrec_config_reloads_total", ["result": result]) ?? -1
        }
        func reloadByPost() async throws -> Int { try await Harness.request(base + "/-/reload", method: .POST).status }

        // Tasks registered through the API before the burst.
        let attempted = AcknowledgedSet(), registered = AcknowledgedSet()
        for id in ids("api", 0..<10) {
            attempted.insert(id)
            #expect(try await DiscoveryTests.api(base, .PUT, "/api/v1/tasks/zego-r/\(id)").status == 201)
            registered.insert(id)
        }
        try await eventually("config A's tasks and the registered ones running") {
            let m = try await metrics()
            return a.tasks.allSatisfy { m.status(account: String($0.split(separator: "/")[0]), task: String($0.split(separator: "/")[1])) == "running" }
                && ids("api", 0..<10).allSatisfy { m.status(account: "zego-r", task: $0) == "running" }
        }
        let before = try await metrics()
        let successesBefore = ["agora-r", "zego-r"].map { before.outcomes(account: $0, "success") }

        // The burst: scrapers and a registering client run while the file alternates B, A, B… and is reloaded.
        let log = ScrapeLog()
        for _ in 0..<4 {
            group.addTask {
                while !done.isSet {
                    let registeredBefore = registered.all
                    let attemptedBefore = attempted.all
                    guard let response = try? await Harness.request(base + "/metrics") else {
                        log.record(version: nil, problems: ["scrape failed"])
                        continue
                    }
                    guard response.status == 200 else {
                        log.record(version: nil, problems: ["status \(response.status)"])
                        continue
                    }
                    let body = String(decoding: response.body, as: UTF8.self)
                    // Registrations acknowledged during the scrape may or may not be in it.
                    let problems = Self.problems(body, versions: versions, registeredBefore: registeredBefore,
                                                 attempted: attemptedBefore.union(attempted.all))
                    let hash = problems.isEmpty ? Metrics(text: body).value("cloudrec_config_hash", [:]) : nil
                    log.record(version: versions.first { $0.hash == hash }?.name, problems: problems)
                }
            }
        }
        let registrations = Task {
            var failures: [String] = []
            for id in ids("api", 10..<30) {
                attempted.insert(id)
                let status = (try? await DiscoveryTests.api(base, .PUT, "/api/v1/tasks/zego-r/\(id)").status) ?? 0
                if status == 201 { registered.insert(id) } else { failures.append("\(id): \(status)") }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 40...160)))
            }
            return failures
        }

        var sighups = 0, posts = 0, last = a
        for round in 0..<40 {
            let next = round % 2 == 0 ? b : a
            if round == 14 {
                // A SIGHUP while the file is broken: the running config stays, the failure is counted.
                try await eventually("reloads settled on \(last.name)") { try await metrics().value("cloudrec_config_hash", [:]) == last.hash }
                let failures = try await reloads("failure")
                try Self.write("accounts:\n  - name: [broken\n", to: configPath)
                kill(exporter.pid, SIGHUP)
                sighups += 1
                try await eventually("broken config counted as a failed reload") { try await reloads("failure") > failures }
                let m = try await metrics()
                #expect(m.value("cloudrec_config_hash", [:]) == last.hash, "the running config stays")
                #expect(m.value("cloudrec_config_last_reload_successful", [:]) == 0)
            }
            if round == 27 {
                try Self.write("global: { poll_interval: [\n", to: configPath)
                posts += 1
                #expect(try await reloadByPost() == 500, "a broken config is refused")
            }
            try Self.write(next.text, to: configPath)
            last = next
            if round % 8 == 5 {
                posts += 1
                #expect(try await reloadByPost() == 200)
            } else {
                kill(exporter.pid, SIGHUP)
                sighups += 1
            }
            // Every fourth reload follows the previous one with no pause at all.
            if round % 4 != 3 { try await Task.sleep(for: .milliseconds(Int.random(in: 10...120))) }
        }
        let registrationFailures = await registrations.value
        // The last version written is B (round 39 wrote A, so write B once more) and must win.
        try Self.write(b.text, to: configPath)
        kill(exporter.pid, SIGHUP)
        sighups += 1
        try await eventually("the last config written is running") { try await metrics().value("cloudrec_config_hash", [:]) == b.hash }
        done.set()

        let seen = log.snapshot
        #expect(seen.problems.isEmpty, "\(seen.problems.joined(separator: "\n"))")
        #expect(seen.scrapes >= 100, "scrapes during the burst: \(seen.scrapes)")
        #expect((seen.byVersion["A"] ?? 0) > 0 && (seen.byVersion["B"] ?? 0) > 0, "scrapes saw both versions: \(seen.byVersion)")
        #expect(registrationFailures.isEmpty, "registrations during the burst: \(registrationFailures)")

        // Every reload is counted: as many as the exporter logged (kernel-coalesced SIGHUPs are one reload).
        let logged = { (text: String) in
            (try? String(contentsOfFile: logPath, encoding: .utf8))?.components(separatedBy: "\n").filter { $0.contains(text) }.count ?? 0
        }
        try await eventually("reload counters match the reloads the exporter logged") {
            let m = try await metrics()
            let succeeded = m.value("cloudrec_config_reloads_total", ["result": "success"]) ?? 0
            let failed = m.value("cloudrec_config_reloads_total", ["result": "failure"]) ?? 0
            return Int(succeeded) == logged("configuration reloaded") && Int(failed) == logged("configuration reload failed")
                && Int(succeeded + failed) == logged("SIGHUP received") + posts
        }
        let signalled = logged("SIGHUP received")
        #expect(signalled >= 1 && signalled <= sighups, "\(signalled) signal reloads for \(sighups) SIGHUPs")
        #expect(logged("configuration reload failed") >= 2)

        // The final state is B's, with every registration, and polling goes on under it.
        let registeredIDs = registered.all
        #expect(registeredIDs.count == 30)
        try await eventually("final state is config B's, every task polled") {
            let m = try await metrics()
            let problems = Self.problems(m.text, versions: [b], registeredBefore: registeredIDs, attempted: registeredIDs)
            return problems.isEmpty && m.value("cloudrec_config_last_reload_successful", [:]) == 1
                && b.tasks.allSatisfy { m.status(account: String($0.split(separator: "/")[0]), task: String($0.split(separator: "/")[1])) == "running" }
                && registeredIDs.allSatisfy { m.status(account: "zego-r", task: $0) == "running" }
                && zip(["agora-r", "zego-r"], successesBefore).allSatisfy { m.outcomes(account: $0, "success") > $1 }
                && m.outcomes(account: "tencent-r", "success") > 0
        }
        let listed = try await DiscoveryTests.api(base, .GET, "/api/v1/tasks?account=zego-r&page_size=500")
        let listedIDs = Set((listed.json["tasks"] as? [[String: Any]] ?? []).compactMap { $0["task_id"] as? String })
        #expect(registeredIDs.isSubset(of: listedIDs), "the registration API still lists every registered task")
        #expect(exporter.process.isRunning)
        #expect(try await Harness.request(base + "/-/healthy").status == 200)
    }
}
