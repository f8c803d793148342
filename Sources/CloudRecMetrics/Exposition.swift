/// The two exposition formats we serve. Prometheus asks for OpenMetrics in its Accept header; everything else gets
/// the classic text format 0.0.4.
public enum ExpositionFormat: Sendable, CaseIterable {
    case prometheusText
    case openMetrics

    public var contentType: String {
        switch self {
        case .prometheusText: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// Picks the format from an `Accept` header, honouring q-values between the two.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        var best: (format: ExpositionFormat, q: Double) = (.prometheusText, -1)
        for part in accept.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = pieces.first?.lowercased() else { continue }
            var q = 1.0
            for parameter in pieces.dropFirst() where parameter.hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)) ?? 1.0
            }
            let format: ExpositionFormat?
            switch type {
            case "application/openmetrics-text": format = .openMetrics
            case "text/plain", "*/*": format = .prometheusText
            default: format = nil
            }
            if let format, q > best.q { best = (format, q) }
        }
        return best.format
    }
}

public enum MetricType: String, Sendable {
    case gauge, counter, histogram
}

/// A metric family's identity: name, help and type. HELP/TYPE lines are rendered once per format and reused.
public struct MetricFamily: Sendable, Hashable {
    public let name: String
    public let help: String
    public let type: MetricType
    private let textHeader: [UInt8]
    private let openMetricsHeader: [UInt8]

    public init(name: String, help: String, type: MetricType) {
        self.name = name
        self.help = help
        self.type = type
        let escapedHelp = Self.escapeHelp(help)
        textHeader = Array("# HELP \(name) \(escapedHelp)\n# TYPE \(name) \(type.rawValue)\n".utf8)
        // OpenMetrics names a counter family without its `_total` suffix.
        let omName = type == .counter && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
        openMetricsHeader = Array("# HELP \(omName) \(escapedHelp)\n# TYPE \(omName) \(type.rawValue)\n".utf8)
    }

    public func header(_ format: ExpositionFormat) -> [UInt8] {
        format == .openMetrics ? openMetricsHeader : textHeader
    }

    static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    public static func == (lhs: MetricFamily, rhs: MetricFamily) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// Writes samples in the text format: `name{l1="v1",l2="v2"} value\n`, labels in the order given.
public enum SampleWriter {
    public static func appendSample(into out: inout [UInt8], name: String, labels: [(String, String)], value: Double) {
        out.append(contentsOf: name.utf8)
        appendLabels(into: &out, labels)
        out.append(UInt8(ascii: " "))
        appendValue(into: &out, value)
        out.append(UInt8(ascii: "\n"))
    }

    public static func appendLabels(into out: inout [UInt8], _ labels: [(String, String)]) {
        guard !labels.isEmpty else { return }
        out.append(UInt8(ascii: "{"))
        for (index, label) in labels.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: label.0.utf8)
            out.append(contentsOf: "=\"".utf8)
            appendEscapedLabelValue(into: &out, label.1)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Label values escape backslash, double quote and line feed, as both formats require.
    public static func appendEscapedLabelValue(into out: inout [UInt8], _ value: String) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            default: out.append(byte)
            }
        }
    }

    public static func appendValue(into out: inout [UInt8], _ value: Double) {
        out.append(contentsOf: formatValue(value).utf8)
    }

    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
