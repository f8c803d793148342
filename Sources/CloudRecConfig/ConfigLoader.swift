import CloudRecCore
import CloudRecVendors
import Foundation
import Yams

/// Reads and strictly validates the YAML configuration. Unknown keys, wrong types, missing fields, duplicate
/// accounts, unreadable secret files: each becomes a `ConfigProblem` naming file, line, key path and problem, and
/// all of them are reported together.
public struct ConfigLoader: Sendable {
    /// Account names: letters, digits, '-', '_' and '.' (the registration API refuses other names in its paths).
    public static func isValidAccountName(_ name: String) -> Bool { ConfigReader.isValidName(name) }

    public var environment: [String: String]
    public var readFile: @Sendable (String) throws -> String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                readFile: @escaping @Sendable (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }) {
        self.environment = environment
        self.readFile = readFile
    }

    public func load(path: String) throws(ConfigErrors) -> ExporterConfig { try loadHashed(path: path).config }

    /// The configuration and a hash of the exact text it was parsed from (`cloudrec_config_hash`).
    public func loadHashed(path: String) throws(ConfigErrors) -> (config: ExporterConfig, hash: UInt64) {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: path, keyPath: "", problem: "cannot read file: \(Self.describe(error))")])
        }
        return (try parse(yaml: text, file: path), ShardSelector.fnv1a64(text))
    }

    public func parse(yaml: String, file: String) throws(ConfigErrors) -> ExporterConfig {
        var reader = ConfigReader(file: file, environment: environment, readFile: readFile)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors(problems: [Self.yamlProblem(error, file: file)])
        }
        let config = reader.readRoot(root)
        if !reader.problems.isEmpty { throw ConfigErrors(problems: reader.problems) }
        return config
    }

    /// Yams' messages quote the offending line, and for duplicate keys the whole document; either may hold a
    /// credential, so only libyaml's fixed problem text and the position are kept.
    static func yamlProblem(_ error: any Error, file: String) -> ConfigProblem {
        guard let yamlError = error as? YamlError else { return ConfigProblem(file: file, keyPath: "", problem: "invalid YAML") }
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let detail = context.map { "\($0.text) (line \($0.mark.line)): " } ?? ""
            return ConfigProblem(file: file, line: mark.line, column: mark.column, keyPath: "", problem: "invalid YAML: \(detail)\(problem)")
        case let .reader(problem, _, _, _):
            return ConfigProblem(file: file, keyPath: "", problem: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigProblem(file: file, line: context.mark.line, column: context.mark.column, keyPath: "",
                                 problem: "duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))")
        default:
            return ConfigProblem(file: file, keyPath: "", problem: "invalid YAML: \(yamlError)")
        }
    }

    static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileReadNoSuchFileError { return "no such file" }
        if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileReadNoPermissionError { return "permission denied" }
        return nsError.localizedDescription
    }
}

/// The walk over the YAML tree; collects problems instead of stopping at the first.
struct ConfigReader {
    let file: String
    let environment: [String: String]
    let readFile: @Sendable (String) throws -> String
    var problems: [ConfigProblem] = []
    /// Accounts that are present but invalid: their tasks are not reported again as "no account named".
    var invalidAccountNames = Set<String>()

    init(file: String, environment: [String: String], readFile: @escaping @Sendable (String) throws -> String) {
        self.file = file
        self.environment = environment
        self.readFile = readFile
    }

    mutating func report(_ node: Node?, _ path: String, _ problem: String) {
        problems.append(ConfigProblem(file: file, line: node?.mark?.line, column: node?.mark?.column, keyPath: path, problem: problem))
    }

    /// The mapping's entries with duplicate and unknown keys reported. `allowed` nil means any key.
    mutating func entries(_ node: Node, _ path: String, allowed: [String]?) -> [(key: String, keyNode: Node, value: Node)] {
        guard case let .mapping(mapping) = node else {
            report(node, path, "expected a mapping, got \(kind(node))")
            return []
        }
        var seen = Set<String>()
        var result: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                report(keyNode, path, "keys must be strings")
                continue
            }
            // A key that is not a plain name is not echoed: a missing colon turns `secret: "value"` into one key.
            let shownKey = Self.isPlainKey(key) ? key : "<key that is not a plain name>"
            let keyPath = path.isEmpty ? shownKey : "\(path).\(shownKey)"
            if !seen.insert(key).inserted {
                report(keyNode, keyPath, "duplicate key")
                continue
            }
            if let allowed, !allowed.contains(key) {
                // Shown only when it reads like a key: a broken line can turn a secret value into a key, and a
                // secret with no digit in it is vanishingly rare.
                let unknownPath = Self.looksLikeKeyName(key) ? keyPath : (path.isEmpty ? "" : path + ".") + "<key not shown>"
                report(keyNode, unknownPath, "unknown key (allowed here: \(allowed.joined(separator: ", ")))")
                continue
            }
            result.append((key, keyNode, value))
        }
        return result
    }

    /// Letters, `_`, `-` and `.`, at most 40 characters: what a mistyped key looks like.
    static func looksLikeKeyName(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 40 && key.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.letters.contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    static func isPlainKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 64 && key.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case let .scalar(scalar) = node else {
            report(node, path, "expected a string, got \(kind(node))")
            return nil
        }
        if scalar.tag == Tag(.null) || (scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)) {
            report(node, path, "must not be empty")
            return nil
        }
        return scalar.string
    }

    mutating func number(_ node: Node, _ path: String) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let value = Double(text), value.isFinite else {
            report(node, path, "expected a number, got \"\(text)\"")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard let text = string(node, path) else { return nil }
        switch text {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default:
            report(node, path, "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    mutating func duration(_ node: Node, _ path: String) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let seconds = DurationParser.seconds(text), seconds > 0 else {
            report(node, path, "invalid duration \"\(text)\" (use forms like 500ms, 30s, 5m, 1h30m)")
            return nil
        }
        return seconds
    }

    mutating func readRoot(_ root: Node?) -> ExporterConfig {
        var config = ExporterConfig(source: file)
        guard let root else {
            report(nil, "", "the file is empty")
            return config
        }
        var accountsNode: Node?
        var tasksNode: Node?
        for entry in entries(root, "", allowed: ["global", "accounts", "tasks", "api", "task_files"]) {
            switch entry.key {
            case "task_files": config.taskFiles = readTaskFilePatterns(entry.value)
            case "global": config.global = readGlobal(entry.value)
            case "api": config.api = readAPI(entry.value)
            case "accounts": accountsNode = entry.value
            case "tasks": tasksNode = entry.value
            default: break
            }
        }
        if let accountsNode { config.accounts = readAccounts(accountsNode, global: config.global) }
        if let tasksNode { config.tasks = readTasks(tasksNode, accounts: config.accounts, accountsNode: accountsNode) }
        return config
    }

    mutating func readGlobal(_ node: Node) -> GlobalConfig {
        var global = GlobalConfig()
        let allowed = ["poll_interval", "request_timeout", "ended_task_retention", "max_concurrent_requests", "max_response_bytes"]
        for entry in entries(node, "global", allowed: allowed) {
            let path = "global.\(entry.key)"
            switch entry.key {
            case "poll_interval": if let v = duration(entry.value, path) { global.pollInterval = v }
            case "request_timeout": if let v = duration(entry.value, path) { global.requestTimeout = v }
            case "ended_task_retention": if let v = duration(entry.value, path) { global.endedTaskRetention = v }
            case "max_concurrent_requests":
                if let v = number(entry.value, path) {
                    if v >= 1, v == v.rounded() { global.maxConcurrentRequests = Int(v) } else { report(entry.value, path, "must be a whole number ≥ 1") }
                }
            case "max_response_bytes":
                if let v = number(entry.value, path) {
                    if v >= 1024, v == v.rounded() { global.maxResponseBytes = Int(v) } else { report(entry.value, path, "must be a whole number ≥ 1024") }
                }
            default: break
            }
        }
        return global
    }

    mutating func readAPI(_ node: Node) -> APIConfig? {
        let pairs = entries(node, "api", allowed: ["token", "token_file", "max_body_bytes", "labels"])
        var api = APIConfig(token: Secret(""))
        var sawToken = false
        for entry in pairs {
            let path = "api.\(entry.key)"
            switch entry.key {
            case "token", "token_file":
                guard !sawToken else {
                    report(entry.keyNode, path, "give either token or token_file, not both")
                    continue
                }
                sawToken = true
                if let secret = readSecret(entry.value, path: path, fromFile: entry.key == "token_file") { api.token = secret }
            case "max_body_bytes":
                if let v = number(entry.value, path) {
                    if v >= 256, v == v.rounded() { api.maxBodyBytes = Int(v) } else { report(entry.value, path, "must be a whole number ≥ 256") }
                }
            case "labels":
                guard case let .sequence(items) = entry.value else {
                    report(entry.value, path, "expected a list of label names")
                    continue
                }
                for (index, item) in items.enumerated() {
                    guard let name = string(item, "\(path)[\(index)]") else { continue }
                    if Self.isLabelName(name) { api.allowedLabels.append(name) } else {
                        report(item, "\(path)[\(index)]", "\"\(name)\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
                    }
                }
            default: break
            }
        }
        guard sawToken else {
            report(node, "api", "missing token (or token_file): the API needs a bearer token")
            return nil
        }
        if api.token.reveal().count < 16 { report(node, "api.token", "must be at least 16 characters") }
        return api
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    /// A secret given inline (with `${ENV}` expansion) or read from a file.
    mutating func readSecret(_ node: Node, path: String, fromFile: Bool) -> Secret? {
        guard let raw = string(node, path) else { return nil }
        if fromFile {
            do {
                let content = try readFile(raw).trimmingCharacters(in: .whitespacesAndNewlines)
                if content.isEmpty { report(node, path, "secret file \(raw) is empty") }
                return Secret(content)
            } catch {
                report(node, path, "cannot read secret file \(raw): \(ConfigLoader.describe(error))")
                return nil
            }
        }
        return expandEnvironment(raw, node: node, path: path).map(Secret.init)
    }

    mutating func readTaskFilePatterns(_ node: Node) -> [String] {
        guard case let .sequence(items) = node else {
            report(node, "task_files", "expected a list of file patterns")
            return []
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        return items.enumerated().compactMap { index, item in
            guard let pattern = string(item, "task_files[\(index)]") else { return nil }
            return pattern.hasPrefix("/") ? pattern : base.appendingPathComponent(pattern).path
        }
    }

    static let commonAccountKeys = ["name", "vendor", "endpoint", "rate_limit", "poll_interval", "credentials", "tls_ca_file",
                                    "discover", "discover_interval"]

    mutating func readAccounts(_ node: Node, global: GlobalConfig) -> [AccountSpec] {
        guard case let .sequence(sequence) = node else {
            report(node, "accounts", "expected a list of accounts, got \(kind(node))")
            return []
        }
        var accounts: [AccountSpec] = []
        var names: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "accounts[\(index)]"
            guard let account = readAccount(item, path: path, global: global) else {
                if case let .mapping(mapping) = item, let name = mapping["name"]?.scalar?.string { invalidAccountNames.insert(name) }
                continue
            }
            if let first = names[account.name] {
                report(item, "\(path).name", "duplicate account name \"\(account.name)\" (first used by accounts[\(first)])")
                continue
            }
            names[account.name] = index
            accounts.append(account)
        }
        return accounts
    }

    mutating func readAccount(_ node: Node, path: String, global: GlobalConfig) -> AccountSpec? {
        guard case .mapping = node else {
            report(node, path, "expected a mapping, got \(kind(node))")
            return nil
        }
        // The vendor decides which keys are allowed, so read it first.
        let pairs = entries(node, path, allowed: nil)
        guard let vendorEntry = pairs.first(where: { $0.key == "vendor" }) else {
            report(node, path, "missing required key \"vendor\" (one of \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        guard let vendorName = string(vendorEntry.value, "\(path).vendor") else { return nil }
        guard let vendor = Vendor(rawValue: vendorName) else {
            report(vendorEntry.value, "\(path).vendor",
                   "unknown vendor \"\(vendorName)\" (one of \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        let schema = VendorCatalog.schema(for: vendor)
        let allowed = Self.commonAccountKeys + schema.accountFields.map(\.name)
        var name: String?
        var endpoint: String?
        var rateLimit = schema.defaultRateLimit
        var pollInterval = global.pollInterval
        var fields: [String: String] = [:]
        var credentials: [String: Secret] = [:]
        var tlsCAFile: String?
        var discover = false
        var discoverInterval = 60.0
        var credentialsSeen = false
        let problemsBefore = problems.count
        for entry in pairs {
            let keyPath = "\(path).\(entry.key)"
            guard allowed.contains(entry.key) else {
                report(entry.keyNode, keyPath, "unknown key for vendor \(vendor.rawValue) (allowed: \(allowed.joined(separator: ", ")))")
                continue
            }
            switch entry.key {
            case "vendor": break
            case "name":
                name = string(entry.value, keyPath)
                if let n = name, !Self.isValidName(n) {
                    report(entry.value, keyPath, "account names may use letters, digits, '-', '_' and '.' only")
                    name = nil
                }
            case "endpoint":
                if let url = string(entry.value, keyPath) {
                    if url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil {
                        endpoint = url
                    } else {
                        report(entry.value, keyPath, "must be an http:// or https:// URL, got \"\(url)\"")
                    }
                }
            case "rate_limit":
                if let v = number(entry.value, keyPath) {
                    if v > 0 { rateLimit = v } else { report(entry.value, keyPath, "must be greater than 0") }
                }
            case "poll_interval": if let v = duration(entry.value, keyPath) { pollInterval = v }
            case "tls_ca_file":
                if let path = string(entry.value, keyPath) {
                    if let problem = caFileProblem(path) { report(entry.value, keyPath, problem) } else { tlsCAFile = path }
                }
            case "discover":
                if let value = bool(entry.value, keyPath) {
                    if value, schema.makeLister == nil {
                        report(entry.value, keyPath, "vendor \(vendor.rawValue) has no task list API to discover tasks with")
                    } else {
                        discover = value
                    }
                }
            case "discover_interval": if let v = duration(entry.value, keyPath) { discoverInterval = v }
            case "credentials":
                credentialsSeen = true
                credentials = readCredentials(entry.value, path: keyPath, names: schema.credentialFields,
                                              optional: schema.optionalCredentialFields, vendor: vendor)
            default:
                guard let spec = schema.accountFields.first(where: { $0.name == entry.key }),
                      let value = string(entry.value, keyPath) else { continue }
                if let problem = spec.problem(with: value) { report(entry.value, keyPath, problem) } else { fields[entry.key] = value }
            }
        }
        if pairs.first(where: { $0.key == "name" }) == nil { report(node, path, "missing required key \"name\"") }
        for spec in schema.accountFields where spec.required && pairs.first(where: { $0.key == spec.name }) == nil {
            report(node, path, "missing required key \"\(spec.name)\" for vendor \(vendor.rawValue)")
        }
        if !credentialsSeen, !schema.credentialFields.isEmpty {
            report(node, path, "missing required key \"credentials\" (\(schema.credentialFields.joined(separator: ", ")))")
        }
        guard let name, problems.count == problemsBefore else { return nil }
        var account = AccountSpec(name: name, vendor: vendor, endpoint: endpoint ?? schema.defaultEndpoint(fields), rateLimit: rateLimit,
                                  pollInterval: pollInterval, fields: fields, credentials: credentials, tlsCAFile: tlsCAFile)
        account.discover = discover
        account.discoverInterval = discoverInterval
        return account
    }

    /// The CA file must be readable and hold at least one PEM certificate (the TLS library parses it when the
    /// account's poller starts; this catches the usual mistakes at load time, with the file and key named).
    func caFileProblem(_ path: String) -> String? {
        let content: String
        do {
            content = try readFile(path)
        } catch {
            return "cannot read CA file \(path): \(ConfigLoader.describe(error))"
        }
        return content.contains("-----BEGIN CERTIFICATE-----") ? nil : "CA file \(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    /// Each credential is given inline (optionally as `${ENV_VAR}`) or as `<name>_file`. `optional` ones (the callback
    /// secret) may be left out.
    mutating func readCredentials(_ node: Node, path: String, names: [String], optional: [String] = [],
                                  vendor: Vendor) -> [String: Secret] {
        let allowed = (names + optional).flatMap { [$0, "\($0)_file"] }
        let pairs = entries(node, path, allowed: allowed)
        var secrets: [String: Secret] = [:]
        for name in names + optional {
            let inline = pairs.first { $0.key == name }
            let fromFile = pairs.first { $0.key == "\(name)_file" }
            switch (inline, fromFile) {
            case (nil, nil):
                guard !optional.contains(name) else { continue }
                report(node, path, "missing credential \"\(name)\" (or \"\(name)_file\") for vendor \(vendor.rawValue)")
            case (.some, .some):
                report(fromFile?.keyNode, "\(path).\(name)_file", "give either \(name) or \(name)_file, not both")
            case let (inline?, nil):
                if let value = readSecret(inline.value, path: "\(path).\(name)", fromFile: false) {
                    if value.isEmpty { report(inline.value, "\(path).\(name)", "is empty after expanding environment variables") }
                    secrets[name] = value
                }
            case let (nil, file?):
                secrets[name] = readSecret(file.value, path: "\(path).\(name)_file", fromFile: true)
            }
        }
        return secrets
    }

    /// Replaces `${NAME}` with the environment's value; an unset variable is a problem (naming the variable only).
    mutating func expandEnvironment(_ raw: String, node: Node, path: String) -> String? {
        var result = ""
        var rest = Substring(raw)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                report(node, path, "unterminated ${ in value")
                return nil
            }
            let variable = String(rest[open.upperBound..<close])
            guard let value = environment[variable] else {
                report(node, path, "environment variable \(variable) is not set")
                return nil
            }
            result += value
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    mutating func readTasks(_ node: Node, accounts: [AccountSpec], accountsNode: Node?) -> [TaskSpec] {
        guard case let .sequence(sequence) = node else {
            report(node, "tasks", "expected a list of tasks, got \(kind(node))")
            return []
        }
        var tasks: [TaskSpec] = []
        var seen: [TaskKey: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "tasks[\(index)]"
            guard let task = readTask(item, path: path, accounts: accounts) else { continue }
            if let first = seen[task.key] {
                report(item, path, "duplicate task \(task.id) for account \(task.account) (first at tasks[\(first)])")
                continue
            }
            seen[task.key] = index
            tasks.append(task)
        }
        return tasks
    }

    mutating func readTask(_ node: Node, path: String, accounts: [AccountSpec]) -> TaskSpec? {
        let pairs = entries(node, path, allowed: nil)
        guard case .mapping = node else { return nil }
        guard let accountEntry = pairs.first(where: { $0.key == "account" }) else {
            report(node, path, "missing required key \"account\"")
            return nil
        }
        guard let accountName = string(accountEntry.value, "\(path).account") else { return nil }
        guard let account = accounts.first(where: { $0.name == accountName }) else {
            if invalidAccountNames.contains(accountName) { return nil }
            report(accountEntry.value, "\(path).account", "no account named \"\(accountName)\"")
            return nil
        }
        let schema = VendorCatalog.schema(for: account.vendor)
        let problemsBefore = problems.count
        let validation = TaskFieldValidation.validate(
            id: pairs.first(where: { $0.key == "id" }).flatMap { string($0.value, "\(path).id") },
            fields: Dictionary(pairs.filter { $0.key != "account" && $0.key != "id" }.compactMap { entry in
                string(entry.value, "\(path).\(entry.key)").map { (entry.key, $0) }
            }, uniquingKeysWith: { a, _ in a }),
            schema: schema)
        for problem in validation.problems {
            let nodeForKey = problem.key.flatMap { key in pairs.first(where: { $0.key == key })?.value } ?? node
            report(nodeForKey, problem.key.map { "\(path).\($0)" } ?? path, problem.message)
        }
        guard problems.count == problemsBefore, let id = validation.id else { return nil }
        return TaskSpec(account: accountName, id: id, fields: validation.fields)
    }
}

/// Task discovery files (`task_files`): a YAML or JSON list of tasks shaped like the config's `tasks:` entries.
public enum TaskFileParser {
    public static func parse(_ text: String, file: String, accounts: [AccountSpec]) -> (tasks: [TaskSpec], problems: [ConfigProblem]) {
        var reader = ConfigReader(file: file, environment: [:], readFile: { _ in "" })
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            return ([], [ConfigLoader.yamlProblem(error, file: file)])
        }
        guard let root else { return ([], []) }
        let tasks = reader.readTasks(root, accounts: accounts, accountsNode: nil)
        return (tasks, reader.problems)
    }
}

/// Task validation shared by the config file and (later) the registration API and discovery files.
public enum TaskFieldValidation {
    public struct Problem: Sendable, Hashable {
        public var key: String?
        public var message: String
    }

    public static func validate(id: String?, fields: [String: String], schema: VendorSchema)
        -> (id: String?, fields: [String: String], problems: [Problem]) {
        var problems: [Problem] = []
        if id == nil { problems.append(Problem(key: nil, message: "missing required key \"id\"")) }
        if let id, id.isEmpty || id.count > 256 { problems.append(Problem(key: "id", message: "must be 1 to 256 characters")) }
        var accepted: [String: String] = [:]
        let allowed = schema.taskFields.map(\.name)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let spec = schema.taskFields.first(where: { $0.name == key }) else {
                let list = (["account", "id"] + allowed).joined(separator: ", ")
                problems.append(Problem(key: key, message: "unknown key for vendor \(schema.vendor.rawValue) (allowed: \(list))"))
                continue
            }
            if let problem = spec.problem(with: value) { problems.append(Problem(key: key, message: problem)) } else { accepted[key] = value }
        }
        for spec in schema.taskFields where spec.required && fields[spec.name] == nil {
            problems.append(Problem(key: nil, message: "missing required key \"\(spec.name)\" for vendor \(schema.vendor.rawValue)"))
        }
        return (id, accepted, problems)
    }
}
