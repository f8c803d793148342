import CloudRecConfig
import CloudRecCore
import Foundation
import Testing

/// A loader with a fake environment and fake files: no process environment, no disk.
private func makeLoader(environment: [String: String] = [:], files: [String: String] = [:]) -> ConfigLoader {
    ConfigLoader(environment: environment, readFile: { path in
        guard let text = files[path] else { throw CocoaError(.fileReadNoSuchFile) }
        return text
    })
}

/// Parses `yaml` expecting failure; records an issue (and returns no problems) when it parses.
private func problems(_ yaml: String, environment: [String: String] = [:], files: [String: String] = [:],
                      sourceLocation: SourceLocation = #_sourceLocation) -> ConfigErrors? {
    do {
        _ = try makeLoader(environment: environment, files: files).parse(yaml: yaml, file: "bad.yaml")
        Issue.record("expected the config to be rejected", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// 1-based line of the `occurrence`-th line containing `marker`.
private func line(of marker: String, in yaml: String, occurrence: Int = 1) -> Int? {
    var seen = 0
    for (index, text) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where text.contains(marker) {
        seen += 1
        if seen == occurrence { return index + 1 }
    }
    return nil
}

@Suite("ConfigLoader: a valid file")
struct ConfigLoaderValidTests {
    static let yaml = """
    accounts:
      - name: agora-main
        vendor: agora
        app_id: 0123456789abcdef0123456789abcdef
        credentials:
          customer_id: ${AGORA_CUSTOMER_ID}
          customer_secret_file: /run/secrets/agora_secret
      - name: zego-eu
        vendor: zego
        app_id: 1234567890
        endpoint: https://cloudrecord-api-fra.zego.im
        rate_limit: 5
        poll_interval: 1m
        credentials:
          server_secret: inline-zego-secret-0001
      - name: zego-quoted
        vendor: zego
        app_id: "987654321"
        credentials:
          server_secret: prefix-${ZEGO_PART}-suffix
    tasks:
      - account: agora-main
        id: sid-1
        resource_id: rid-1
        mode: web
      - account: zego-eu
        id: X3CgNeE4I1qAAABN
      - account: zego-quoted
        id: X3CgNeE4I1qAAABN
    global:
      poll_interval: 20s
      request_timeout: 1500ms
      ended_task_retention: 1h30m
      stall_after: 20m
      task_series: attention
      max_task_series: 5000
      unseen_task_retention: 2h
      max_concurrent_requests: 8
      max_response_bytes: 65536
    """

    static let environment = ["AGORA_CUSTOMER_ID": "customer-from-env", "ZEGO_PART": "middle"]
    static let files = ["/run/secrets/agora_secret": "agora-secret-from-file\n", "/etc/cloudrec.yaml": yaml]

    func load() throws -> ExporterConfig {
        try makeLoader(environment: Self.environment, files: Self.files).parse(yaml: Self.yaml, file: "cloudrec.yaml")
    }

    @Test func globalSettings() throws {
        let config = try load()
        var expected = GlobalConfig()
        expected.pollInterval = 20
        expected.requestTimeout = 1.5
        expected.endedTaskRetention = 5400
        expected.stallAfter = 1200
        expected.taskSeries = .attention
        expected.maxTaskSeries = 5000
        expected.unseenTaskRetention = 7200
        expected.maxConcurrentRequests = 8
        expected.maxResponseBytes = 65536
        #expect(config.global == expected)
        #expect(config.source == "cloudrec.yaml")
    }

    @Test func agoraAccountWithEnvAndFileCredentials() throws {
        let config = try load()
        let account = try #require(config.account(named: "agora-main"))
        // Defaults: documented endpoint and rate limit; poll interval from `global` even though it comes later in the file.
        #expect(account == AccountSpec(
            name: "agora-main", vendor: .agora, endpoint: "https://api.sd-rtn.com", rateLimit: 10, pollInterval: 20,
            fields: ["app_id": "0123456789abcdef0123456789abcdef"],
            credentials: ["customer_id": Secret("customer-from-env"), "customer_secret": Secret("agora-secret-from-file")]))
        #expect(account.credential("customer_id").reveal() == "customer-from-env")
        #expect(account.credential("customer_secret").reveal() == "agora-secret-from-file")
    }

    @Test func zegoAccountWithOverridesAndNumericAppID() throws {
        let config = try load()
        #expect(config.accounts.map(\.name) == ["agora-main", "zego-eu", "zego-quoted"])
        #expect(config.account(named: "zego-eu") == AccountSpec(
            name: "zego-eu", vendor: .zego, endpoint: "https://cloudrecord-api-fra.zego.im", rateLimit: 5, pollInterval: 60,
            fields: ["app_id": "1234567890"], credentials: ["server_secret": Secret("inline-zego-secret-0001")]))
        // app_id given as a quoted string is the same kind of value as a YAML number.
        #expect(config.account(named: "zego-quoted") == AccountSpec(
            name: "zego-quoted", vendor: .zego, endpoint: "https://cloudrecord-api.zego.im", rateLimit: 10, pollInterval: 20,
            fields: ["app_id": "987654321"], credentials: ["server_secret": Secret("prefix-middle-suffix")]))
    }

    @Test func tasks() throws {
        let config = try load()
        #expect(config.tasks == [
            TaskSpec(account: "agora-main", id: "sid-1", fields: ["resource_id": "rid-1", "mode": "web"]),
            TaskSpec(account: "zego-eu", id: "X3CgNeE4I1qAAABN"),
            TaskSpec(account: "zego-quoted", id: "X3CgNeE4I1qAAABN"),
        ])
    }

    @Test func loadReadsThroughInjectedReadFile() throws {
        let config = try makeLoader(environment: Self.environment, files: Self.files).load(path: "/etc/cloudrec.yaml")
        #expect(config.accounts.count == 3)
        #expect(config.tasks.count == 3)
        #expect(config.source == "/etc/cloudrec.yaml")
    }

    @Test func missingConfigFileIsReported() {
        do {
            _ = try makeLoader().load(path: "/etc/missing.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.description == "/etc/missing.yaml: cannot read file: no such file")
        }
    }

    @Test func emptyLists() throws {
        let config = try makeLoader().parse(yaml: "accounts: []\ntasks: []\n", file: "empty.yaml")
        #expect(config.accounts.isEmpty)
        #expect(config.tasks.isEmpty)
        #expect(config.global == GlobalConfig())
    }
}

/// One bad input: the file, the marker of the line the problem must point at, the key path and the problem text.
struct BadConfigCase: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    var marker: String
    var markerOccurrence = 1
    var keyPath: String
    var problem: String
    var environment: [String: String] = [:]
    var files: [String: String] = [:]

    var testDescription: String { name }
}

private let agoraAccount = """
accounts:
  - name: agora-main
    vendor: agora
    app_id: appid123
    credentials:
      customer_id: cid
      customer_secret: csecret
"""

private let badCases: [BadConfigCase] = [
    BadConfigCase(name: "unknown top-level key", yaml: agoraAccount + "\nmetrics_path: /metrics\n",
                  marker: "metrics_path", keyPath: "metrics_path", problem: "unknown key (allowed here: global, accounts, tasks, api, task_files)"),
    BadConfigCase(name: "unknown key in global", yaml: "global:\n  poll_interval: 30s\n  scrape_timeout: 5s\n",
                  marker: "scrape_timeout", keyPath: "global.scrape_timeout", problem: "unknown key (allowed here:"),
    BadConfigCase(name: "unknown key in an account", yaml: agoraAccount + "\n    region: us-east-1\n",
                  marker: "region:", keyPath: "accounts[0].region", problem: "unknown key for vendor agora"),
    BadConfigCase(name: "unknown key in a task", yaml: agoraAccount + """

        tasks:
          - account: agora-main
            id: sid-1
            resource_id: rid-1
            mode: mix
            room_id: r1
        """,
                  marker: "room_id", keyPath: "tasks[0].room_id", problem: "unknown key for vendor agora (allowed: account, id, resource_id, mode)"),
    BadConfigCase(name: "mapping where a string is expected", yaml: agoraAccount + "\n    endpoint: {url: x}\n",
                  marker: "endpoint:", keyPath: "accounts[0].endpoint", problem: "expected a string, got a mapping"),
    BadConfigCase(name: "non-number rate_limit", yaml: agoraAccount + "\n    rate_limit: fast\n",
                  marker: "rate_limit", keyPath: "accounts[0].rate_limit", problem: "expected a number, got \"fast\""),
    BadConfigCase(name: "bad duration 30x", yaml: "global:\n  poll_interval: 30x\n",
                  marker: "30x", keyPath: "global.poll_interval", problem: "invalid duration \"30x\""),
    BadConfigCase(name: "bad stall_after", yaml: "global:\n  poll_interval: 30s\n  stall_after: 15 minutes\n",
                  marker: "stall_after", keyPath: "global.stall_after", problem: "invalid duration \"15 minutes\""),
    BadConfigCase(name: "stall_after out of range", yaml: "global:\n  stall_after: 2s\n",
                  marker: "stall_after", keyPath: "global.stall_after", problem: "must be from 10s to 24h (got 2s)"),
    BadConfigCase(name: "unknown task_series mode", yaml: "global:\n  poll_interval: 30s\n  task_series: some\n",
                  marker: "task_series", keyPath: "global.task_series", problem: "unknown mode \"some\" (one of all, attention, none)"),
    BadConfigCase(name: "task_series not a string", yaml: "global:\n  task_series: [all]\n",
                  marker: "task_series", keyPath: "global.task_series", problem: "expected a string, got a list"),
    BadConfigCase(name: "bad duration 5m30h (units out of order)", yaml: agoraAccount + "\n    poll_interval: 5m30h\n",
                  marker: "5m30h", keyPath: "accounts[0].poll_interval", problem: "invalid duration \"5m30h\""),
    BadConfigCase(name: "missing name", yaml: """
        accounts:
          - vendor: agora
            app_id: appid123
            credentials: {customer_id: cid, customer_secret: csecret}
        """,
                  marker: "- vendor: agora", keyPath: "accounts[0]", problem: "missing required key \"name\""),
    BadConfigCase(name: "missing vendor", yaml: """
        accounts:
          - name: agora-main
            app_id: appid123
        """,
                  marker: "- name: agora-main", keyPath: "accounts[0]", problem: "missing required key \"vendor\""),
    BadConfigCase(name: "missing app_id", yaml: """
        accounts:
          - name: agora-main
            vendor: agora
            credentials: {customer_id: cid, customer_secret: csecret}
        """,
                  marker: "- name: agora-main", keyPath: "accounts[0]", problem: "missing required key \"app_id\" for vendor agora"),
    BadConfigCase(name: "missing credentials", yaml: """
        accounts:
          - name: zego-main
            vendor: zego
            app_id: 1234
        """,
                  marker: "- name: zego-main", keyPath: "accounts[0]", problem: "missing required key \"credentials\" (server_secret)"),
    BadConfigCase(name: "missing one credential", yaml: """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: cid
        """,
                  marker: "customer_id: cid", keyPath: "accounts[0].credentials",
                  problem: "missing credential \"customer_secret\" (or \"customer_secret_file\") for vendor agora"),
    BadConfigCase(name: "agora task without resource_id", yaml: agoraAccount + "\ntasks:\n  - account: agora-main\n    id: sid-1\n    mode: mix\n",
                  marker: "- account: agora-main", keyPath: "tasks[0]", problem: "missing required key \"resource_id\" for vendor agora"),
    BadConfigCase(name: "agora task without mode", yaml: agoraAccount + "\ntasks:\n  - account: agora-main\n    id: sid-1\n    resource_id: rid\n",
                  marker: "- account: agora-main", keyPath: "tasks[0]", problem: "missing required key \"mode\" for vendor agora"),
    BadConfigCase(name: "task without id", yaml: agoraAccount + "\ntasks:\n  - account: agora-main\n    resource_id: rid\n    mode: mix\n",
                  marker: "- account: agora-main", keyPath: "tasks[0]", problem: "missing required key \"id\""),
    BadConfigCase(name: "invalid agora mode",
                  yaml: agoraAccount + "\ntasks:\n  - account: agora-main\n    id: sid-1\n    resource_id: rid\n    mode: composite\n",
                  marker: "mode: composite", keyPath: "tasks[0].mode", problem: "must be one of individual, mix, web, got \"composite\""),
    BadConfigCase(name: "unknown vendor", yaml: "accounts:\n  - name: tw\n    vendor: twilio\n",
                  marker: "twilio", keyPath: "accounts[0].vendor",
                  problem: "unknown vendor \"twilio\" (one of agora, zego, tencent_trtc, alibaba_live, alibaba_ims)"),
    BadConfigCase(name: "non-numeric zego app_id", yaml: "accounts:\n  - name: z\n    vendor: zego\n    app_id: abc\n    credentials: {server_secret: s}\n",
                  marker: "app_id: abc", keyPath: "accounts[0].app_id", problem: "must be a numeric id, got \"abc\""),
    BadConfigCase(name: "duplicate account name", yaml: agoraAccount + """

          - name: agora-main
            vendor: zego
            app_id: 1234
            credentials: {server_secret: s}
        """,
                  marker: "- name: agora-main", markerOccurrence: 2, keyPath: "accounts[1].name",
                  problem: "duplicate account name \"agora-main\" (first used by accounts[0])"),
    BadConfigCase(name: "duplicate task", yaml: agoraAccount + """

        tasks:
          - account: agora-main
            id: sid-1
            resource_id: rid
            mode: mix
          - id: sid-1
            account: agora-main
            resource_id: rid
            mode: web
        """,
                  marker: "- id: sid-1", keyPath: "tasks[1]", problem: "duplicate task sid-1 for account agora-main (first at tasks[0])"),
    BadConfigCase(name: "task of an unknown account", yaml: agoraAccount + "\ntasks:\n  - account: nope\n    id: sid-1\n",
                  marker: "account: nope", keyPath: "tasks[0].account", problem: "no account named \"nope\""),
    BadConfigCase(name: "missing secret file", yaml: """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: inline-customer-id-secret
              customer_secret_file: /run/secrets/missing
        """,
                  marker: "customer_secret_file", keyPath: "accounts[0].credentials.customer_secret_file",
                  problem: "cannot read secret file /run/secrets/missing: no such file"),
    BadConfigCase(name: "empty secret file", yaml: """
        accounts:
          - name: z
            vendor: zego
            app_id: 1234
            credentials:
              server_secret_file: /run/secrets/empty
        """,
                  marker: "server_secret_file", keyPath: "accounts[0].credentials.server_secret_file",
                  problem: "secret file /run/secrets/empty is empty", files: ["/run/secrets/empty": " \n"]),
    BadConfigCase(name: "unset environment variable", yaml: """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: ${AGORA_ID}
              customer_secret: ${AGORA_SECRET}
        """,
                  marker: "${AGORA_ID}", keyPath: "accounts[0].credentials.customer_id",
                  problem: "environment variable AGORA_ID is not set", environment: ["AGORA_SECRET": "env-secret-value-42"]),
    BadConfigCase(name: "inline and _file both given", yaml: """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: cid
              customer_secret: inline-secret-value-42
              customer_secret_file: /run/secrets/agora
        """,
                  marker: "customer_secret_file", keyPath: "accounts[0].credentials.customer_secret_file",
                  problem: "give either customer_secret or customer_secret_file, not both",
                  files: ["/run/secrets/agora": "file-secret-value-42"]),
]

@Suite("ConfigLoader: bad input")
struct ConfigLoaderErrorTests {
    @Test(arguments: badCases)
    func badInputIsReportedWithLocation(_ bad: BadConfigCase) throws {
        let errors = try #require(problems(bad.yaml, environment: bad.environment, files: bad.files))
        #expect(errors.problems.count == 1, "\(errors.description)")
        let problem = try #require(errors.problems.first)
        let expectedLine = try #require(line(of: bad.marker, in: bad.yaml, occurrence: bad.markerOccurrence))
        #expect(problem.file == "bad.yaml")
        #expect(problem.line == expectedLine)
        #expect(problem.keyPath == bad.keyPath)
        #expect(problem.problem.contains(bad.problem), "\(problem.problem)")
        // The message itself names all four.
        let message = errors.description
        #expect(message.hasPrefix("bad.yaml:\(expectedLine):"), "\(message)")
        #expect(message.contains(": \(bad.keyPath): "), "\(message)")
        #expect(message.contains(bad.problem))
        // No secret of the case leaks into the message.
        for secret in Array(bad.environment.values) + Array(bad.files.values) + ["inline-customer-id-secret", "csecret"] {
            let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { #expect(!message.contains(trimmed)) }
        }
    }

    @Test func severalProblemsAreAllReported() throws {
        let yaml = """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            rate_limit: lots
            credentials: {customer_id: cid, customer_secret: csecret}
          - name: tw
            vendor: twilio
          - name: zego-main
            vendor: zego
            app_id: 1234
            credentials: {server_secret: zsecret}
        tasks:
          - account: zego-main
            id: t1
            mode: mix
        global:
          poll_interval: 30x
          max_concurrent_requests: 0
        listen: ":9000"
        """
        let errors = try #require(problems(yaml))
        #expect(errors.problems.map(\.keyPath).sorted() == [
            "accounts[0].rate_limit", "accounts[1].vendor", "global.max_concurrent_requests", "global.poll_interval",
            "listen", "tasks[0].mode",
        ])
        #expect(errors.problems.count == 6)
        #expect(errors.description.split(separator: "\n").count == 6)
        #expect(errors.problems.allSatisfy { $0.file == "bad.yaml" && $0.line != nil })
    }

    @Test func invalidYAMLNamesTheLine() throws {
        let yaml = "accounts:\n  - name: a\n    vendor: [agora\n"
        let errors = try #require(problems(yaml))
        #expect(errors.problems.count == 1)
        #expect(errors.description.hasPrefix("bad.yaml"))
        #expect(errors.description.contains("invalid YAML"))
        #expect(errors.problems.first?.line != nil)
    }

    @Test func emptyFile() throws {
        let errors = try #require(problems(""))
        #expect(errors.description == "bad.yaml: the file is empty")
    }
}

@Suite("Secrets are redacted")
struct SecretRedactionTests {
    @Test func secretPrintsRedacted() throws {
        let secret = Secret("hunter2-very-secret")
        #expect("\(secret)" == "<redacted>")
        #expect(String(describing: secret) == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(secret.reveal() == "hunter2-very-secret")
        let json = try JSONEncoder().encode(["s": secret])
        #expect(String(decoding: json, as: UTF8.self) == #"{"s":"<redacted>"}"#)
    }

    @Test func accountDescriptionHasNoSecret() throws {
        let config = try makeLoader(environment: ConfigLoaderValidTests.environment, files: ConfigLoaderValidTests.files)
            .parse(yaml: ConfigLoaderValidTests.yaml, file: "cloudrec.yaml")
        let secrets = ["customer-from-env", "agora-secret-from-file", "inline-zego-secret-0001", "prefix-middle-suffix"]
        for account in config.accounts {
            let described = String(describing: account) + "\(account)" + String(reflecting: account)
            #expect(described.contains("<redacted>"))
            for secret in secrets { #expect(!described.contains(secret)) }
        }
    }

    @Test func configErrorsNeverContainSecrets() throws {
        let yaml = """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            poll_interval: soon
            credentials:
              customer_id: ${CID}
              customer_secret: inline-agora-secret-777
          - name: z
            vendor: zego
            app_id: 1234
            credentials:
              server_secret_file: /run/secrets/zego
              server_secret: other-inline-secret-888
        """
        let errors = try #require(problems(yaml, environment: ["CID": "env-customer-id-999"],
                                           files: ["/run/secrets/zego": "file-secret-666"]))
        #expect(errors.problems.count == 2)
        for secret in ["inline-agora-secret-777", "env-customer-id-999", "file-secret-666", "other-inline-secret-888"] {
            #expect(!errors.description.contains(secret))
            #expect(!String(describing: errors.problems).contains(secret))
        }
    }

    /// A YAML syntax error on a credential line must not echo the line (Yams' own message quotes it).
    @Test func yamlSyntaxErrorDoesNotEchoSecret() throws {
        let yaml = """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: cid
              customer_secret: @hunter2-secret-value
        """
        let errors = try #require(problems(yaml))
        #expect(errors.problems.count == 1)
        #expect(errors.description.contains("invalid YAML"))
        #expect(errors.problems.first?.line == 7)
        #expect(!errors.description.contains("hunter2-secret-value"), "\(errors.description)")
    }

    /// Yams reports duplicate mapping keys with the whole document as context; none of it may reach the message.
    @Test func duplicateYAMLKeyDoesNotEchoDocument() throws {
        let yaml = """
        accounts:
          - name: agora-main
            vendor: agora
            app_id: appid123
            credentials:
              customer_id: cid
              customer_secret: dup-key-secret-value
              customer_secret: dup-key-secret-value-2
        """
        let errors = try #require(problems(yaml))
        #expect(errors.problems.count == 1)
        #expect(errors.description.contains("customer_secret"))
        #expect(errors.problems.first?.line != nil)
        #expect(!errors.description.contains("dup-key-secret-value"), "\(errors.description)")
    }
}

@Suite("DurationParser")
struct DurationParserTests {
    @Test(arguments: [("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("2d", 172_800.0), ("1w", 604_800.0),
                      ("1m30s500ms", 90.5)])
    func parses(_ text: String, _ seconds: Double) {
        #expect(DurationParser.seconds(text) == seconds)
    }

    @Test(arguments: ["", "5", "1m1h", "-5s", "30x", "5m30h", "1.5s", "s", "5 s", "1h1h"])
    func rejects(_ text: String) {
        #expect(DurationParser.seconds(text) == nil)
    }

    @Test func formats() {
        #expect(DurationParser.format(0.5) == "500ms")
        #expect(DurationParser.format(30) == "30s")
        #expect(DurationParser.format(300) == "5m")
        #expect(DurationParser.format(7200) == "2h")
    }
}
