/// Prometheus-style durations: `500ms`, `30s`, `5m`, `1h30m`, `2d`, `1w`. Returns seconds, or nil when malformed or
/// longer than `maxSeconds` (each field then checks its own documented range, `ConfigRanges`).
public enum DurationParser {
    /// 100 years: no duration the exporter reads is longer, and every product of it stays exact in `Int64` nanoseconds.
    public static let maxSeconds: Double = 100 * 31_536_000

    private static let units: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800), ("y", 31_536_000),
    ]

    public static func seconds(_ text: String) -> Double? {
        guard !text.isEmpty else { return nil }
        var total = 0.0
        var rest = Substring(text)
        var lastUnitRank = Int.max
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            // `ms` must be tried before `m`.
            guard let unitIndex = units.firstIndex(where: { rest.hasPrefix($0.suffix) && !(($0.suffix == "m") && rest.hasPrefix("ms")) })
            else { return nil }
            // Units must go from largest to smallest, each at most once (as Prometheus requires).
            let rank = unitIndex
            guard rank < lastUnitRank else { return nil }
            lastUnitRank = rank
            total += value * units[unitIndex].seconds
            guard total.isFinite, total <= maxSeconds else { return nil }
            rest = rest.dropFirst(units[unitIndex].suffix.count)
        }
        return total
    }

    /// The shortest readable rendering, for messages and the landing page.
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds <= maxSeconds else { return "\(seconds)s" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
