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
        try read(yaml: yaml, file: file) { reader, root in reader.readRoot(root) }
    }

    /// Composes `yaml` and hands its root to `read` with a fresh reader; the value and every problem reported (a YAML
    /// syntax error is one, with no value). One path for the configuration, the web config and task files.
    func compose<T>(yaml: String, file: String, _ read: (inout ConfigReader, Node?) -> T) -> (value: T?, problems: [ConfigProblem]) {
        var reader = ConfigReader(file: file, environment: environment, readFile: readFile)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            return (nil, [Self.yamlProblem(error, file: file)])
        }
        let value = read(&reader, root)
        return (value, reader.problems)
    }

    /// `compose`, with any problem thrown.
    func read<T>(yaml: String, file: String, _ read: (inout ConfigReader, Node?) -> T) throws(ConfigErrors) -> T {
        let (value, problems) = compose(yaml: yaml, file: file, read)
        guard let value, problems.isEmpty else { throw ConfigErrors(problems: problems) }
        return value
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
