import CloudRecCore
import Foundation
import Yams

/// Secrets: inline, `${ENV}` or `<name>_file`; never echoed.
extension ConfigReader {
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
}
