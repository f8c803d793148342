import CloudRecCore
import Foundation

/// One task as the task store keeps it: the store's own row schema, the same in SQLite and PostgreSQL.
///
/// The columns the store queries and merges are explicit: identity, shard, where the task came from, its vendor fields
/// and labels, when it was registered, its status and end. `state` is the owner's document of everything else it
/// knows (observation, callback evidence, what the fleet counters already counted, progress marks): versioned and
/// decoded by the polling layer (`TrackedTask+Row.swift`), opaque to the store, which never reads it.
///
/// Sources come in two columns because two kinds of writers change them. `sharedSources` (`api`, `callback`) are
/// written by whichever replica received the registration or the callback; `localSources` (`config`, `file`,
/// `discovery`) by the replica that polls the task, which derives them from its own config and discovery. A write of
/// one kind never overwrites the other kind's column, so a registration racing a poll result loses nothing.
public struct StoredTask: Sendable, Hashable {
    public var key: TaskKey
    public var vendor: String
    /// The task's logical shard (`StoredTask.shard(of:)`), fixed for its life.
    public var shard: Int
    public var sharedSources: [String]
    public var localSources: [String]
    public var fields: [String: String]
    public var labels: [String: String]
    public var registeredAt: Double
    /// The common status (`TaskStatus` raw value) and when the task ended, for queries and operators reading the table.
    public var status: String
    public var endedAt: Double?
    /// The owner's state document (JSON), empty for a task registered but not yet handled by its owner.
    public var state: Data
    /// Bumped by every registration write (`register`, `unregister`). The owner deletes a row only at the version it
    /// last read, so a registration that arrived meanwhile is never deleted with it.
    public var registrationVersion: Int64

    public init(key: TaskKey, vendor: String, shard: Int? = nil, sharedSources: [String], localSources: [String],
                fields: [String: String], labels: [String: String], registeredAt: Double, status: String, endedAt: Double?,
                state: Data, registrationVersion: Int64 = 0) {
        self.key = key
        self.vendor = vendor
        self.shard = shard ?? Self.shard(of: key)
        self.sharedSources = sharedSources.sorted()
        self.localSources = localSources.sorted()
        self.fields = fields
        self.labels = labels
        self.registeredAt = registeredAt
        self.status = status
        self.endedAt = endedAt
        self.state = state
        self.registrationVersion = registrationVersion
    }

    /// Logical shards of the task space in HA mode: replicas lease shards, never single tasks. Fixed: a task's
    /// shard is stored with it, and changing the count would move every task.
    public static let shardCount = 64

    public static func shard(of key: TaskKey) -> Int { ShardSelector.shard(of: key, totalShards: shardCount) }

    /// The sources only registrations and callbacks write (any replica); the others belong to the owner.
    public static let sharedSourceNames: Set<String> = ["api", "callback"]
}

/// A row the owner forgets, at the registration version it last read.
public struct StoredTaskVersion: Sendable, Hashable {
    public var key: TaskKey
    public var registrationVersion: Int64
    public init(key: TaskKey, registrationVersion: Int64) {
        self.key = key
        self.registrationVersion = registrationVersion
    }
}

/// A registration or callback written by any replica: the shared source to add, and the fields and labels to merge
/// (newest wins per key).
public struct TaskRegistration: Sendable, Hashable {
    public var key: TaskKey
    public var vendor: String
    public var source: String
    public var fields: [String: String]
    public var labels: [String: String]
    public var at: Double

    public init(key: TaskKey, vendor: String, source: String, fields: [String: String], labels: [String: String],
                at: Double = Date().timeIntervalSince1970) {
        self.key = key
        self.vendor = vendor
        self.source = source
        self.fields = fields
        self.labels = labels
        self.at = at
    }
}

/// What the store can write as a row. The row, state document included, is only made when the store writes it:
/// a write-behind batch encodes each task once, however often it was polled since the last batch.
public protocol StoredTaskSource: Sendable {
    var storedKey: TaskKey { get }
    func storedRow() -> StoredTask
}

extension StoredTask: StoredTaskSource {
    public var storedKey: TaskKey { key }
    public func storedRow() -> StoredTask { self }
}
