/// Calendar fields of a Unix time in UTC by arithmetic (the inverse of days-from-civil in the proleptic Gregorian
/// calendar). The signers stamp every request with a date, and Foundation's `Calendar` and `ISO8601FormatStyle`
/// cost more CPU than the signature itself. Only 1970 to 9999 are answered; the callers keep Foundation for the rest.
enum UTCDate {
    struct Parts {
        var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    }

    static func parts(_ seconds: Int64) -> Parts? {
        // 253,402,300,800 is 10000-01-01T00:00:00Z.
        guard seconds >= 0, seconds < 253_402_300_800 else { return nil }
        let days = Int(seconds / 86_400)
        let rest = Int(seconds % 86_400)
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return Parts(year: year, month: month, day: day, hour: rest / 3_600, minute: rest % 3_600 / 60, second: rest % 60)
    }

    /// `YYYY-MM-DD`.
    static func date(_ parts: Parts) -> String {
        String(parts.year) + "-" + two(parts.month) + "-" + two(parts.day)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, as `Date.ISO8601FormatStyle` writes a UTC time.
    static func iso8601(_ parts: Parts) -> String {
        date(parts) + "T" + two(parts.hour) + ":" + two(parts.minute) + ":" + two(parts.second) + "Z"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0" + String(value) : String(value) }
}
