import EventLog
import Foundation
import PropertyBased
import Testing

/// The project's JSON encoder must write exactly what Foundation's `JSONEncoder` writes with sorted keys and
/// unescaped slashes: answers, sealed payloads and disclosure records were written by Foundation's until it came.
@Suite("SortedJSONEncoder")
struct SortedJSONEncoderTests {
    static func foundation<Value: Encodable>(_ value: Value, userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo = userInfo
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func ours<Value: Encodable>(_ value: Value, userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> String {
        var encoder = SortedJSONEncoder()
        encoder.userInfo = userInfo
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("generated values of every shape are written byte for byte as Foundation writes them")
    func generatedValues() async throws {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var random = SplitMix(seed: seed)
            let value = Sample.generate(depth: 0, &random)
            let expected = try Self.foundation(value)
            let actual = try Self.ours(value)
            #expect(actual == expected, "seed \(seed)")
        }
    }

    @Test("strings: escapes, control characters, slashes and non-ASCII text")
    func strings() throws {
        let texts = ["", "plain", "a\"b\\c/d", "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{20}\u{7f}",
                     "Äiti ja isä – Åland 😀", "\u{2028}\u{2029}", "e\u{301}", "</script>"]
        for text in texts {
            #expect(try Self.ours(text) == (try Self.foundation(text)))
            #expect(try Self.ours([text: text]) == (try Self.foundation([text: text])))
        }
        #expect(try Self.ours("a/b\n") == #""a/b\n""#)
    }

    @Test("numbers: integers at their limits, doubles and floats in their shortest form, NaN refused")
    func numbers() throws {
        #expect(try Self.ours([Int64.min, Int64.max, 0, -1, 10]) == (try Self.foundation([Int64.min, Int64.max, 0, -1, 10])))
        #expect(try Self.ours([UInt64.max, 0, 9, 10]) == (try Self.foundation([UInt64.max, 0, 9, 10])))
        let doubles = [0.0, -0.0, 1.0, 0.1, 1e15, 1e16, 1e20, 1e-7, 123456789.125, 5e-324, .greatestFiniteMagnitude, -2.5]
        #expect(try Self.ours(doubles) == (try Self.foundation(doubles)))
        let floats: [Float] = [1.1, 3, -0.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        #expect(try Self.ours(floats) == (try Self.foundation(floats)))
        #expect(try Self.ours(Decimal(string: "12.50")) == (try Self.foundation(Decimal(string: "12.50"))))
        #expect(throws: EncodingError.self) { try Self.ours([Double.nan]) }
        #expect(throws: EncodingError.self) { try Self.ours(["x": Double.infinity]) }
    }

    @Test("Foundation's own forms: Data as base64, URL as text, Date as seconds since 2001, optionals, empty values")
    func foundationTypes() throws {
        struct Mixed: Encodable {
            var data = Data([0, 1, 2, 250, 251])
            var url = URL(string: "https://example.org/a?b=c")
            var date = Date(timeIntervalSinceReferenceDate: 12.25)
            var missing: Int?
            var nothing: [String: Int] = [:]
            var none: [Int] = []
            var empty = Empty()
            struct Empty: Encodable { func encode(to encoder: any Encoder) throws {} }
        }
        #expect(try Self.ours(Mixed()) == (try Self.foundation(Mixed())))
        #expect(try Self.ours(Mixed()) == #"{"data":"AAEC+vs=","date":12.25,"empty":{},"none":[],"nothing":{},"url":"https://example.org/a?b=c"}"#)
    }

    @Test("user info reaches encode(to:), and coding paths name where a value was refused")
    func userInfoAndCodingPaths() throws {
        let key = CodingUserInfoKey(rawValue: "test.suffix")!
        struct Tagged: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode("tag-\(encoder.userInfo[CodingUserInfoKey(rawValue: "test.suffix")!] as? String ?? "none")")
            }
        }
        #expect(try Self.ours(["a": Tagged()], userInfo: [key: "x"]) == #"{"a":"tag-x"}"#)

        struct Outer: Encodable { var inner = [Inner()] }
        struct Inner: Encodable { var value = Double.nan }
        do {
            _ = try Self.ours(Outer())
            Issue.record("NaN was encoded")
        } catch let EncodingError.invalidValue(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["inner", "Index 0", "value"])
        }
    }
}

/// A small deterministic random source, so a failing seed can be replayed.
struct SplitMix: RandomNumberGenerator {
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

/// A value that exercises every way an `encode(to:)` can write: keyed, unkeyed and single-value containers, nested
/// containers, super encoders, repeated keys, optionals, and Foundation's special types.
indirect enum Sample: Encodable {
    case text(String)
    case integer(Int64)
    case unsigned(UInt64)
    case double(Double)
    case float(Float)
    case flag(Bool)
    case null
    case data(Data)
    case date(Date)
    case decimal(Decimal)
    case list([Sample])
    case object([(String, Sample?)])
    case nested(key: String, [(String, Sample)], list: [Sample])
    case withSuper(Sample, Sample)
    case wrapper(Sample)

    static let keys = ["a", "b", "B", "_", "aa", "a1", "a10", "a9", "zz", "Z", "é", "e", "key/with/slash", "q\"uote", "ä", "é", "sub"]

    static func generate(depth: Int, _ random: inout SplitMix) -> Sample {
        let kind = Int.random(in: depth > 3 ? 0...9 : 0...14, using: &random)
        switch kind {
        case 0: return .text(text(&random))
        case 1: return .integer(Int64.random(in: .min ... .max, using: &random) >> Int64.random(in: 0...63, using: &random))
        case 2: return .unsigned(UInt64.random(in: .min ... .max, using: &random) >> UInt64.random(in: 0...63, using: &random))
        case 3:
            let bits = random.next()
            let value = Double(bitPattern: bits)
            return .double(value.isFinite ? value : Double(Int.random(in: -1_000...1_000, using: &random)) / 8)
        case 4:
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            return .float(value.isFinite ? value : 0.5)
        case 5: return .flag(Bool.random(using: &random))
        case 6: return .null
        case 7: return .data(Data((0..<Int.random(in: 0...12, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }))
        case 8: return .date(Date(timeIntervalSinceReferenceDate: Double(Int.random(in: -1_000_000_000...1_000_000_000, using: &random)) / 4))
        case 9: return .decimal(Decimal(Int.random(in: -100_000...100_000, using: &random)) / Decimal(100))
        case 10: return .list((0..<Int.random(in: 0...4, using: &random)).map { _ in generate(depth: depth + 1, &random) })
        case 11:
            return .object((0..<Int.random(in: 0...6, using: &random)).map { _ in
                (keys.randomElement(using: &random)!, Bool.random(using: &random) ? nil : generate(depth: depth + 1, &random))
            })
        case 12:
            return .nested(key: keys.randomElement(using: &random)!,
                           (0..<Int.random(in: 0...3, using: &random)).map { _ in (keys.randomElement(using: &random)!, generate(depth: depth + 1, &random)) },
                           list: (0..<Int.random(in: 0...3, using: &random)).map { _ in generate(depth: depth + 1, &random) })
        case 13: return .withSuper(generate(depth: depth + 1, &random), generate(depth: depth + 1, &random))
        default: return .wrapper(generate(depth: depth + 1, &random))
        }
    }

    static func text(_ random: inout SplitMix) -> String {
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", "/", "\"", "\\", "\u{0}", "\u{8}", "\u{9}", "\u{a}", "\u{c}", "\u{d}", "\u{1f}",
                                          "\u{7f}", "ä", "é", "\u{301}", "😀", "\u{2028}", " ", "<", "&"]
        var text = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...10, using: &random) { text.append(alphabet.randomElement(using: &random)!) }
        return String(text)
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ text: String) { stringValue = text }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .text(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .integer(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .unsigned(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .double(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .float(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .flag(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .null: var container = encoder.singleValueContainer(); try container.encodeNil()
        case .data(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .date(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .decimal(let value): var container = encoder.singleValueContainer(); try container.encode(value)
        case .list(let items):
            var container = encoder.unkeyedContainer()
            for item in items {
                switch item {
                case .integer(let value): try container.encode(Int(truncatingIfNeeded: value))
                case .text(let value): try container.encode(value)
                case .null: try container.encodeNil()
                default: try container.encode(item)
                }
            }
        case .object(let entries):
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in entries {
                switch value {
                case .integer(let number)?: try container.encode(Int32(truncatingIfNeeded: number), forKey: Key(key))
                case .flag(let flag)?: try container.encode(flag, forKey: Key(key))
                case .double(let number)?: try container.encode(number, forKey: Key(key))
                case .null?: try container.encodeNil(forKey: Key(key))
                default: try container.encodeIfPresent(value, forKey: Key(key))
                }
            }
        case .nested(let key, let entries, let list):
            var container = encoder.container(keyedBy: Key.self)
            var nested = container.nestedContainer(keyedBy: Key.self, forKey: Key(key))
            for (key, value) in entries { try nested.encode(value, forKey: Key(key)) }
            var items = container.nestedUnkeyedContainer(forKey: Key("items"))
            var inner = items.nestedUnkeyedContainer()
            for item in list { try inner.encode(item) }
            var object = items.nestedContainer(keyedBy: Key.self)
            try object.encode(list.count, forKey: Key("count"))
        case .withSuper(let first, let second):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(first, forKey: Key("own"))
            try second.encode(to: container.superEncoder())
            try first.encode(to: container.superEncoder(forKey: Key("sub")))
        case .wrapper(let inner):
            var container = encoder.singleValueContainer()
            try container.encode(inner)
        }
    }
}
