import CloudRecCore
import Foundation
import Yams

/// `global`, `api` and `task_files`.
extension ConfigReader {
    mutating func readGlobal(_ node: Node) -> GlobalConfig {
        var global = GlobalConfig()
        let allowed = ["poll_interval", "request_timeout", "ended_task_retention", "stall_after", "task_series", "max_task_series",
                       "unseen_task_retention", "max_concurrent_requests", "max_response_bytes"]
        for entry in entries(node, "global", allowed: allowed) {
            let path = "global.\(entry.key)"
            switch entry.key {
            case "poll_interval": if let v = duration(entry.value, path, in: ConfigRanges.pollInterval) { global.pollInterval = v }
            case "request_timeout": if let v = duration(entry.value, path, in: ConfigRanges.requestTimeout) { global.requestTimeout = v }
            case "ended_task_retention":
                if let v = duration(entry.value, path, in: ConfigRanges.endedTaskRetention) { global.endedTaskRetention = v }
            case "stall_after": if let v = duration(entry.value, path, in: ConfigRanges.stallAfter) { global.stallAfter = v }
            case "task_series":
                guard let text = string(entry.value, path) else { continue }
                if let mode = TaskSeriesMode(rawValue: text) { global.taskSeries = mode } else {
                    report(entry.value, path, "unknown mode \"\(Self.excerpt(text))\" (one of \(TaskSeriesMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            case "max_task_series":
                if let v = wholeNumber(entry.value, path, in: ConfigRanges.maxTaskSeries) { global.maxTaskSeries = v }
            case "unseen_task_retention":
                if let v = duration(entry.value, path, in: ConfigRanges.unseenTaskRetention) { global.unseenTaskRetention = v }
            case "max_concurrent_requests":
                if let v = wholeNumber(entry.value, path, in: ConfigRanges.maxConcurrentRequests) { global.maxConcurrentRequests = v }
            case "max_response_bytes":
                if let v = wholeNumber(entry.value, path, in: ConfigRanges.maxResponseBytes) { global.maxResponseBytes = v }
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
                if let v = wholeNumber(entry.value, path, in: ConfigRanges.apiMaxBodyBytes) { api.maxBodyBytes = v }
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
}
