import CloudRecCore
import CloudRecVendors
import Foundation
import Yams

/// Reads and strictly validates the YAML configuration. Unknown keys, wrong types, missing fields, duplicate
/// accounts, unreadable secret files: each becomes a `ConfigProblem` naming file, line, key path and problem, and
/// all of them are reported together.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    public var readFile: @Sendable (String) throws -> String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                readFile: @escaping @Sendable (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }) {
        self.environment = environment
        self.readFile = readFile
    }

    public func load(path: String) throws(ConfigErrors) -> ExporterConfig {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: path, keyPath: "", problem: "cannot read file: \(Self.describe(error))")])
        }
        return try parse(yaml: text, file: path)
    }

    public func parse(yaml: String, file: String) throws(ConfigErrors) -> ExporterConfig {
        var reader = ConfigReader(file: file, environment: environment, readFile: readFile)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, keyPath: "", problem: "invalid YAML: \(error)")])
        }
        let config = reader.readRoot(root)
        if !reader.problems.isEmpty { throw ConfigErrors(problems: reader.problems) }
        return config
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
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if !seen.insert(key).inserted {
                report(keyNode, keyPath, "duplicate key")
                continue
            }
            if let allowed, !allowed.contains(key) {
                report(keyNode, keyPath, "unknown key (allowed here: \(allowed.joined(separator: ", ")))")
                continue
            }
            result.append((key, keyNode, value))
        }
        return result
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
        for entry in entries(root, "", allowed: ["global", "accounts", "tasks"]) {
            switch entry.key {
            case "global": config.global = readGlobal(entry.value)
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

    static let commonAccountKeys = ["name", "vendor", "endpoint", "rate_limit", "poll_interval", "credentials", "tls_ca_file"]

    mutating func readAccounts(_ node: Node, global: GlobalConfig) -> [AccountSpec] {
        guard case let .sequence(sequence) = node else {
            report(node, "accounts", "expected a list of accounts, got \(kind(node))")
            return []
        }
        var accounts: [AccountSpec] = []
        var names: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "accounts[\(index)]"
            guard let account = readAccount(item, path: path, global: global) else { continue }
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
            case "credentials":
                credentialsSeen = true
                credentials = readCredentials(entry.value, path: keyPath, names: schema.credentialFields, vendor: vendor)
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
        return AccountSpec(name: name, vendor: vendor, endpoint: endpoint ?? schema.defaultEndpoint(fields), rateLimit: rateLimit,
                           pollInterval: pollInterval, fields: fields, credentials: credentials, tlsCAFile: tlsCAFile)
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

    /// Each credential is given inline (optionally as `${ENV_VAR}`) or as `<name>_file`.
    mutating func readCredentials(_ node: Node, path: String, names: [String], vendor: Vendor) -> [String: Secret] {
        let allowed = names.flatMap { [$0, "\($0)_file"] }
        let pairs = entries(node, path, allowed: allowed)
        var secrets: [String: Secret] = [:]
        for name in names {
            let inline = pairs.first { $0.key == name }
            let fromFile = pairs.first { $0.key == "\(name)_file" }
            switch (inline, fromFile) {
            case (nil, nil):
                report(node, path, "missing credential \"\(name)\" (or \"\(name)_file\") for vendor \(vendor.rawValue)")
            case (.some, .some):
                report(fromFile?.keyNode, "\(path).\(name)_file", "give either \(name) or \(name)_file, not both")
            case let (inline?, nil):
                guard let raw = string(inline.value, "\(path).\(name)") else { continue }
                if let value = expandEnvironment(raw, node: inline.value, path: "\(path).\(name)") {
                    if value.isEmpty { report(inline.value, "\(path).\(name)", "is empty after expanding environment variables") }
                    secrets[name] = Secret(value)
                }
            case let (nil, file?):
                guard let filePath = string(file.value, "\(path).\(name)_file") else { continue }
                do {
                    let content = try readFile(filePath).trimmingCharacters(in: .whitespacesAndNewlines)
                    if content.isEmpty { report(file.value, "\(path).\(name)_file", "secret file \(filePath) is empty") }
                    secrets[name] = Secret(content)
                } catch {
                    report(file.value, "\(path).\(name)_file", "cannot read secret file \(filePath): \(ConfigLoader.describe(error))")
                }
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
