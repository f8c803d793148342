/// Rules for text that comes from outside (API paths and bodies, config values, callbacks) and is stored, exported
/// as a label value or echoed in an error message.
public enum ExternalText {
    /// No control characters (U+0000–U+001F, U+007F–U+009F): NUL bytes and line breaks never reach a label value, a
    /// log line or a vendor request.
    public static func isPrintable(_ text: some StringProtocol) -> Bool {
        !text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Printable, with a length in Unicode code points inside `lengths`: the API's text rule (api/openapi.yaml), counted
    /// as JSON Schema's `maxLength` counts (code points, not grapheme clusters).
    public static func isPrintable(_ text: some StringProtocol, lengths: ClosedRange<Int>) -> Bool {
        lengths.contains(text.unicodeScalars.count) && isPrintable(text)
    }

    /// At most `limit` characters of `text` for an error message, control characters shown as `?` and an ellipsis when
    /// cut: a 10 KB path segment or a pasted blob is not echoed back whole.
    public static func excerpt(_ text: some StringProtocol, limit: Int = 64) -> String {
        var out = ""
        var count = 0
        for character in text {
            if count == limit { return out + "…" }
            out.append(isPrintable(String(character)) ? character : "?")
            count += 1
        }
        return out
    }

    /// An account name: letters, digits, '-', '_' and '.', 1 to 128 characters.
    public static func isAccountName(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && name.count <= 128 && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "-" || scalar == "_" || scalar == ".")
        }
    }
}
