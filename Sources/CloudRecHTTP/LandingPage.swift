import CloudRecCore
import Foundation

/// The small page at `/`, readable without Grafana and without JavaScript: links, tracked tasks per vendor and
/// status, each account's health, and the tasks that need a human.
enum LandingPage {
    /// Tasks needing attention listed on the page at most (the count says how many there are).
    static let attentionLimit = 100

    static func render(control: any ExporterControl, telemetryPath: String) -> String {
        let fleet = control.fleetOverview(limit: attentionLimit)
        let summary = control.taskSummary()
        var rows = ""
        for vendor in Vendor.allCases {
            guard let counts = summary[vendor] else { continue }
            rows += "<tr><td>\(vendor.rawValue)</td>"
            for status in TaskStatus.allCases { rows += "<td>\(counts[status] ?? 0)</td>" }
            rows += "<td>\(counts.values.reduce(0, +))</td></tr>\n"
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"9\">No tasks tracked yet.</td></tr>\n" }
        let headers = TaskStatus.allCases.map { "<th>\($0.rawValue)</th>" }.joined()
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>cloudrec_exporter</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style>
        </head>
        <body>
        <h1>cloudrec_exporter</h1>
        <p>Prometheus exporter for cloud-recording tasks. Version \(escape(control.version)).</p>
        <ul>
        <li><a href="\(escape(telemetryPath))">Metrics</a></li>
        <li><a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></li>
        </ul>
        <h2>Tracked tasks</h2>
        <table>
        <tr><th>vendor</th>\(headers)<th>total</th></tr>
        \(rows)</table>
        \(accountsSection(fleet))
        \(attentionSection(fleet))
        </body>
        </html>
        """
    }

    /// Each account: its tasks, how its recordings and uploads ended since the exporter started, and its vendor calls.
    static func accountsSection(_ fleet: FleetOverview) -> String {
        var rows = ""
        for account in fleet.accounts {
            let finished = account.completed + account.failed
            let failure = finished > 0 ? String(format: "%.2f%%", 100 * account.failed / finished) : "–"
            let uploads = account.filesFinished > 0 ? String(format: "%.2f%%", 100 * account.filesFailed / account.filesFinished) : "–"
            let lastError = account.health.lastFailure.map { failure in
                failure.outcome + (failure.code.map { " (\($0))" } ?? "") + ", " + age(fleet.now, failure.at)
            } ?? "none"
            rows += "<tr><td>\(escape(account.name))</td><td>\(account.vendor.rawValue)</td><td>\(account.tasks)</td>"
                + "<td>\(CheckedNumber.describe(account.completed))</td><td>\(CheckedNumber.describe(account.failed))</td>"
                + "<td>\(failure)</td><td>\(CheckedNumber.describe(account.filesFinished))</td><td>\(uploads)</td>"
                + "<td>\(account.health.lastSuccess.map { age(fleet.now, $0) } ?? "never")</td><td>\(escape(lastError))</td></tr>\n"
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"10\">No accounts configured.</td></tr>\n" }
        return """
        <h2>Accounts</h2>
        <p>Recordings and uploads that ended since the exporter started (the objectives and the error budget are in
        alerts/objectives/slo.yml and the dashboards).</p>
        <table>
        <tr><th>account</th><th>vendor</th><th>tasks</th><th>completed</th><th>failed</th><th>failure ratio</th>
        <th>files finished</th><th>upload failure ratio</th><th>last successful call</th><th>last error</th></tr>
        \(rows)</table>
        """
    }

    /// The tasks that need a human: failed, upload failures, backup-only files, stalled, stuck, not polled.
    static func attentionSection(_ fleet: FleetOverview) -> String {
        var rows = ""
        for task in fleet.attention {
            rows += "<tr><td>\(task.vendor.rawValue)</td><td>\(escape(task.account))</td><td>\(escape(task.taskID))</td>"
                + "<td>\(task.status.rawValue)</td><td>\(escape(task.reasons.joined(separator: ", ")))</td>"
                + "<td>\(task.lastSuccess.map { age(fleet.now, $0) } ?? "never")</td></tr>\n"
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"6\">None.</td></tr>\n" }
        let more = fleet.attentionTotal > fleet.attention.count
            ? "<p>Showing \(fleet.attention.count) of \(fleet.attentionTotal).</p>\n" : ""
        return """
        <h2>Tasks needing attention (\(fleet.attentionTotal))</h2>
        \(more)<table>
        <tr><th>vendor</th><th>account</th><th>task</th><th>status</th><th>why</th><th>last successful poll</th></tr>
        \(rows)</table>
        """
    }

    /// "42s ago", "17m ago", "5h ago", "3d ago".
    static func age(_ now: Double, _ time: Double) -> String {
        let seconds = max(0, now - time)
        for (unit, size) in [("d", 86_400.0), ("h", 3600), ("m", 60)] where seconds >= 2 * size {
            return "\(CheckedNumber.describe((seconds / size).rounded(.down)))\(unit) ago"
        }
        return "\(CheckedNumber.describe(seconds.rounded(.down)))s ago"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
