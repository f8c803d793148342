import CloudRecCore
import Foundation

/// Source lists and field/label maps as JSON text in their columns (SQLite TEXT; PostgreSQL keeps them as jsonb and
/// text[] but exchanges the same text). Unreadable text (a row edited by hand) reads as empty, never as a trap.
enum StoredColumns {
    static func list(_ values: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(values.sorted()), as: UTF8.self)) ?? "[]"
    }

    static func list(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    static func map(_ values: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(values), as: UTF8.self)) ?? "{}"
    }

    static func map(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}

/// Rows of schema v1, one JSON body per task, read into the v3 columns by the migration. Only the keys the columns
/// need are read (the body stays whole as the state document the polling layer decodes).
enum LegacyTaskBody {
    private struct Body: Decodable {
        struct Spec: Decodable {
            var account: String
            var id: String
            var fields: [String: String]?
            var labels: [String: String]?
        }
        var spec: Spec
        var vendor: String
        var sources: [String]?
        var status: String?
        var endedAt: Double?
        var registeredAt: Double?
    }

    static func row(_ body: Data) -> StoredTask? {
        guard let decoded = try? JSONDecoder().decode(Body.self, from: body) else { return nil }
        let sources = decoded.sources ?? []
        return StoredTask(key: TaskKey(account: decoded.spec.account, taskID: decoded.spec.id), vendor: decoded.vendor,
                          sharedSources: sources.filter { StoredTask.sharedSourceNames.contains($0) },
                          localSources: sources.filter { !StoredTask.sharedSourceNames.contains($0) },
                          fields: decoded.spec.fields ?? [:], labels: decoded.spec.labels ?? [:],
                          registeredAt: decoded.registeredAt ?? 0, status: decoded.status ?? "unknown", endedAt: decoded.endedAt,
                          state: body)
    }
}
