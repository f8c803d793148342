import CloudRecCore
import CloudRecStorage
import Foundation

/// A tracked task as a task-store row (`StoredTask`) and back. The row's columns are authoritative for identity,
/// sources, fields and labels; the state document (this type's Codable form) carries everything else the owner knows.
extension TrackedTask: StoredTaskSource {
    public var storedKey: TaskKey { key }
    public func storedRow() -> StoredTask { row }

    public var row: StoredTask {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let names = sources.map(\.rawValue)
        return StoredTask(key: key, vendor: vendor.rawValue,
                          sharedSources: names.filter { StoredTask.sharedSourceNames.contains($0) },
                          localSources: names.filter { !StoredTask.sharedSourceNames.contains($0) },
                          fields: spec.fields, labels: spec.labels, registeredAt: registeredAt, status: status.rawValue,
                          endedAt: endedAt, state: (try? encoder.encode(self)) ?? Data(), registrationVersion: registrationVersion)
    }

    /// nil for a row of a vendor this build does not know (written by a newer version); a state document that does
    /// not decode (hand-edited, or older) starts the task afresh from its columns.
    public init?(row: StoredTask) {
        guard let vendor = Vendor(rawValue: row.vendor) else { return nil }
        let spec = TaskSpec(account: row.key.account, id: row.key.taskID, fields: row.fields, labels: row.labels)
        var task = row.state.isEmpty ? nil : try? JSONDecoder().decode(TrackedTask.self, from: row.state)
        if task == nil || task?.key != row.key { task = TrackedTask(spec: spec, vendor: vendor, sources: [], registeredAt: row.registeredAt) }
        guard var task else { return nil }
        task.spec = spec
        task.vendor = vendor
        task.sources = Set((row.sharedSources + row.localSources).compactMap(TaskSource.init(rawValue:)))
        task.registeredAt = row.registeredAt
        task.registrationVersion = row.registrationVersion
        self = task
    }

    var storedVersion: StoredTaskVersion { StoredTaskVersion(key: key, registrationVersion: registrationVersion) }
}
