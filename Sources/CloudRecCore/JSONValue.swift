import Foundation

/// A small JSON tree used by decoders that must accept several shapes (Agora's `fileList` is a string or an array,
/// numbers arrive as strings in old examples) and by the simulators to render bodies with a stable key order.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(serialized())
    }

    /// Parses with `JSONFastParser` (JSONParser.swift); whatever it does not read exactly as `JSONSerialization`
    /// would, `JSONSerialization` reads (and refuses) as before.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        if let value = JSONFastParser.parse(bytes) { return value }
        return try parseWithFoundation(bytes)
    }

    /// The reference reading (also what the tests compare the fast parser with).
    public static func parseWithFoundation(_ bytes: [UInt8]) throws -> JSONValue {
        let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        return JSONValue(any: object)
    }

    init(any: Any) {
        switch any {
        case is NSNull: self = .null
        case let number as NSNumber:
            if isBoolean(number) { self = .bool(number.boolValue) } else { self = .number(number.doubleValue) }
        case let string as String: self = .string(string)
        case let array as [Any]: self = .array(array.map(JSONValue.init(any:)))
        case let dict as [String: Any]: self = .object(dict.sorted { $0.key < $1.key }.map { ($0.key, JSONValue(any: $0.value)) })
        default: self = .null
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? {
        switch self {
        case let .string(s): return s
        case let .number(n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case let .bool(b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// Finite numbers, and numeric strings (some vendor examples quote numbers); never NaN or an infinity, whatever
    /// the text says (`"nan"`, `"inf"`, `"1e999"`).
    public var doubleValue: Double? {
        switch self {
        case let .number(n): return n.isFinite ? n : nil
        case let .string(s): return CheckedNumber.finite(s)
        default: return nil
        }
    }

    public var intValue: Int? { doubleValue.flatMap { CheckedNumber.whole($0, in: Int.min...Int.max) } }
    /// A whole count (bytes), fractions dropped; nil when out of range or not a number (`Int64(_:)` would trap).
    public var int64Value: Int64? { doubleValue.flatMap { CheckedNumber.truncated($0) } }
    public var boolValue: Bool? {
        switch self {
        case let .bool(b): return b
        case let .string(s): return s == "true" ? true : (s == "false" ? false : nil)
        default: return nil
        }
    }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a } else { return nil } }
    public var isObject: Bool { if case .object = self { return true } else { return false } }
    public var isNull: Bool { self == .null }

    /// Compact JSON with keys in insertion order.
    public func serialized() -> String {
        var out = ""
        write(into: &out)
        return out
    }

    public var bytes: [UInt8] { Array(serialized().utf8) }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n):
            if n == n.rounded(), abs(n) < 1e15 { out += String(Int64(n)) } else { out += String(n) }
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(pair.0, into: &out)
                out += ":"
                pair.1.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// JSONSerialization hands back NSNumber for both booleans and numbers; booleans carry the `c`/`B` ObjC type
/// (JSON numbers never decode as Int8, so the overlap is harmless).
private func isBoolean(_ number: NSNumber) -> Bool {
    let type = String(cString: number.objCType)
    return type == "c" || type == "B"
}

public extension JSONValue {
    /// Builds an object from literal pairs, dropping nil values (optional fields).
    static func obj(_ pairs: (String, JSONValue?)...) -> JSONValue {
        .object(pairs.compactMap { key, value in value.map { (key, $0) } })
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}
