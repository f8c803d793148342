import CloudRecCore
import CloudRecSimulators
import Foundation
import Testing

/// `JSONValue.parse` reads with its own parser first (JSONParser.swift) and leaves to `JSONSerialization` what that
/// parser does not read exactly the same way. Judged against `JSONSerialization` on the vendors' example answers,
/// edge cases and mutations of both: the same tree when Foundation accepts, a throw when it refuses.
@Suite("JSON parsing")
struct JSONParserTests {
    static let examples = [
        AgoraSimulator.seedExampleBody, ZegoSimulator.seedExampleBody, TencentTRTCSimulator.seedExampleBody,
        AlibabaLiveSimulator.seedExampleBody, AlibabaIMSSimulator.seedExampleBody,
    ]

    static let edgeCases = [
        "", " ", "{}", "[]", "[ ]", "{ }", "null", "true", "false", "nul", "tru", "0", "-0", "-0.0", "01", "-", "1.",
        ".5", "1e", "1e+", "1E5", "1e-5", "2.5e3", "-12.25", "9007199254740993", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e308", "1e309", "-1e400", "1e-400",
        "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u4e2d\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"",
        "\"\\ude00\"", "\"\\u12\"", "\"\\x\"", "\"tab\there\"", "\"caf\u{e9}\"", "{\"a\":1,\"a\":2}",
        "{\"b\":1,\"a\":[1,2,{\"c\":null}]}", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1:2}", "[\"unterminated",
        "  {\"x\" : true }  ", "{\"x\":true} trailing", "\u{FEFF}{\"bom\":1}", "[[[[[[[[[[]]]]]]]]]]",
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        "{\"Status\":\"1\",\"n\":\"5\",\"size\":12345678901}", "{\"e\\u0301\":1,\"\\u00e9\":2}",
    ]

    static func check(_ bytes: [UInt8]) {
        let reference = try? JSONValue.parseWithFoundation(bytes)
        let ours = try? JSONValue.parse(bytes)
        #expect(ours == reference, "\(String(decoding: bytes, as: UTF8.self).prefix(200))")
        if let ours, let reference { #expect(ours.serialized() == reference.serialized()) }
    }

    @Test("the vendors' examples and edge cases read as JSONSerialization reads them")
    func examplesAndEdgeCases() {
        for text in Self.examples + Self.edgeCases { Self.check(Array(text.utf8)) }
        // Invalid UTF-8 inside a string, and a UTF-16 body: left to Foundation.
        Self.check([0x22, 0xC3, 0x28, 0x22])
        Self.check(Array("{\"a\":1}".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
    }

    @Test("mutated answers read as JSONSerialization reads them")
    func mutations() {
        var generator = SplitMix(seed: 17)
        let alphabet = Array("{}[],:\"\\ 0123456789-+.eEtrufalsn\u{7f}x".utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        for example in Self.examples {
            let base = Array(example.utf8)
            for _ in 0..<400 {
                var bytes = base
                for _ in 0...Int(generator.next() % 3) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    case 1: bytes.remove(at: position)
                    default: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                    }
                    if bytes.isEmpty { break }
                }
                Self.check(bytes)
            }
        }
    }

    /// A small deterministic generator, so a failure repeats.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
