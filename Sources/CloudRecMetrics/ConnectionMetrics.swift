/// The HTTP listener's connection figures (SECURITY.md "Connections"). Families stay empty, and so are left out of
/// the scrape, until `enable(maxConnections:)` says the listener enforces limits.
public final class ConnectionMetrics: Sendable {
    /// Why the server closed a connection on its own initiative.
    public enum CloseReason: String, CaseIterable, Sendable {
        /// A request header was not complete within `--web.read-header-timeout` (counted from the connection's
        /// start, or from the first byte of a later request).
        case headerTimeout = "header_timeout"
        /// A request (header and body) was not complete within `--web.read-timeout`.
        case readTimeout = "read_timeout"
        /// No new request within `--web.idle-timeout` after the last answer.
        case idleTimeout = "idle_timeout"
        /// An answer the client stopped reading (the socket's send buffer stayed full) for `--web.idle-timeout`.
        case writeTimeout = "write_timeout"
        /// Closed to make room for a new connection at `--web.max-connections` (the longest-waiting connection
        /// that was not being answered).
        case evicted
        /// Answered before its request was read in full (413 for a body over the limit): closed after the answer.
        case earlyResponse = "early_response"
    }

    public let open = GaugeFamily(
        name: "cloudrec_http_connections_open", help: "HTTP connections currently open on the listener.", labelNames: [])
    public let max = GaugeFamily(
        name: "cloudrec_http_connections_max", help: "The listener's connection cap (--web.max-connections).", labelNames: [])
    public let accepted = CounterFamily(
        name: "cloudrec_http_connections_accepted_total", help: "HTTP connections accepted (admitted under the cap).",
        labelNames: [])
    public let refused = CounterFamily(
        name: "cloudrec_http_connections_refused_total",
        help: "HTTP connections closed at once because the cap was reached and every open connection was being answered.",
        labelNames: [])
    public let closed = CounterFamily(
        name: "cloudrec_http_connections_closed_total",
        help: "HTTP connections the server closed on its own initiative, by reason: header_timeout, read_timeout, idle_timeout, write_timeout, evicted, early_response.",
        labelNames: ["reason"])

    public init() {}

    /// Makes every series visible (at zero) once the listener enforces its limits.
    public func enable(maxConnections: Int) {
        max.set([], Double(maxConnections))
        open.set([], 0)
        accepted.touch([])
        refused.touch([])
        for reason in CloseReason.allCases { closed.touch([reason.rawValue]) }
    }

    public var families: [any ExposedFamily] { [open, max, accepted, refused, closed] }
}
