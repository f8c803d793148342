import CloudRecCore

/// The small page at `/`: a link to the metrics and tracked tasks per vendor and status.
enum LandingPage {
    static func render(control: any ExporterControl, telemetryPath: String) -> String {
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
        </body>
        </html>
        """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
