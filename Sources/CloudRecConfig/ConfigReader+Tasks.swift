import CloudRecCore
import CloudRecVendors
import Foundation
import Yams

/// `tasks` (and task discovery files, which hold the same list).
extension ConfigReader {
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
        let (tasks, problems) = ConfigLoader(environment: [:], readFile: { _ in "" }).compose(yaml: text, file: file) { reader, root in
            root.map { reader.readTasks($0, accounts: accounts, accountsNode: nil) } ?? []
        }
        return (tasks ?? [], problems)
    }
}
