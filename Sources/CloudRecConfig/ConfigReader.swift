import CloudRecCore
import Foundation
import Yams

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
        guard let value = CheckedNumber.finite(text) else {
            report(node, path, "expected a number, got \"\(Self.excerpt(text))\"")
            return nil
        }
        return value
    }

    /// A number inside its documented range (`ConfigRanges`).
    mutating func number(_ node: Node, _ path: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = number(node, path) else { return nil }
        guard let checked = CheckedNumber.within(value, range) else {
            report(node, path, "must be from \(CheckedNumber.describe(range.lowerBound)) to \(CheckedNumber.describe(range.upperBound)) (got \(CheckedNumber.describe(value)))")
            return nil
        }
        return checked
    }

    /// A whole number inside its documented range (`ConfigRanges`).
    mutating func wholeNumber(_ node: Node, _ path: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = number(node, path) else { return nil }
        guard let whole = CheckedNumber.whole(value, in: range) else {
            report(node, path, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(CheckedNumber.describe(value)))")
            return nil
        }
        return whole
    }

    /// At most 40 characters of a value for a message (a 30-digit number or a pasted blob stays readable).
    static func excerpt(_ text: String) -> String { ExternalText.excerpt(text, limit: 40) }

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

    /// A duration inside its documented range (`ConfigRanges`).
    mutating func duration(_ node: Node, _ path: String, in range: ClosedRange<Double>) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let seconds = DurationParser.seconds(text) else {
            report(node, path, "invalid duration \"\(Self.excerpt(text))\" (use forms like 500ms, 30s, 5m, 1h30m; at most 100y)")
            return nil
        }
        guard range.contains(seconds) else {
            report(node, path, "must be \(ConfigRanges.describe(duration: range)) (got \(Self.excerpt(text)))")
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
}
