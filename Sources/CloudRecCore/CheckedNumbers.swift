/// Conversions for numbers that come from outside the process (configuration, flags, API and callback bodies,
/// headers, vendor answers). Swift's `Int(_: Double)` traps on NaN, infinities and values out of range, and
/// `Double(_: String)` happily reads `nan`, `inf` and hexadecimal floats; these never trap and never hand back a
/// non-finite number. Every caller states the range it documents (SECURITY.md lists them); out of range is nil, and
/// the caller turns nil into its usual clear error (config: file, line, key; API and callbacks: 4xx JSON).
public enum CheckedNumber {
    /// A finite decimal number written in plain or exponent notation (`12`, `-0.5`, `1e3`); nil for `nan`, `inf`,
    /// `infinity`, hexadecimal floats, empty text, surrounding spaces and anything that overflows to infinity.
    public static func finite(_ text: some StringProtocol) -> Double? {
        guard let first = text.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
        guard text.utf8.allSatisfy({ byte in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
        }) else { return nil }
        guard let value = Double(String(text)), value.isFinite else { return nil }
        return value
    }

    /// `value` as a whole number inside `range`; nil when NaN, infinite, fractional or outside the range.
    public static func whole(_ value: Double, in range: ClosedRange<Int>) -> Int? {
        guard value.isFinite, value == value.rounded(), let whole = Int(exactly: value), range.contains(whole) else { return nil }
        return whole
    }

    /// `value` with its fraction dropped, as an `Int64` inside `range`; nil when NaN, infinite or outside.
    public static func truncated(_ value: Double, in range: ClosedRange<Int64> = Int64.min...Int64.max) -> Int64? {
        guard value.isFinite, let whole = Int64(exactly: value.rounded(.towardZero)), range.contains(whole) else { return nil }
        return whole
    }

    /// `value` if it is finite and inside `range`.
    public static func within(_ value: Double, _ range: ClosedRange<Double>) -> Double? {
        value.isFinite && range.contains(value) ? value : nil
    }

    /// `value` forced into `range` (NaN becomes the lower bound): for values already checked once whose arithmetic
    /// must stay representable (deadlines in nanoseconds, sleeps).
    public static func clamped(_ value: Double, to range: ClosedRange<Double>) -> Double {
        guard !value.isNaN else { return range.lowerBound }
        return min(max(value, range.lowerBound), range.upperBound)
    }

    /// Seconds as whole nanoseconds for deadlines, clamped to 0 ... 10 years so `Int64` arithmetic cannot overflow.
    public static func nanoseconds(_ seconds: Double) -> Int64 {
        Int64(clamped(seconds, to: 0...315_360_000) * 1_000_000_000)
    }

    /// A number for messages: whole numbers without a fraction, everything else (huge, non-finite) as Swift prints it.
    public static func describe(_ value: Double) -> String {
        if let whole = Int64(exactly: value) { return String(whole) }
        return String(value)
    }
}
