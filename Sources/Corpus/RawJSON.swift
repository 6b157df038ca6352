/// A JSON value whose strings and object keys stay UTF-8 bytes.
///
/// `tokenizer.json` vocabularies may hold two tokens that Swift's `String` calls equal (`é`
/// precomposed and `e` + U+0301 are canonically equivalent), so a `[String: …]` dictionary, as
/// Foundation's parsers build, would silently drop one. Objects keep every member, in order.
indirect enum RawJSON {
    case null
    case bool(Bool)
    case number(Double)
    case string([UInt8])
    case array([RawJSON])
    case object([(key: [UInt8], value: RawJSON)])

    /// Parses `bytes`; nil when they are not one JSON value.
    static func parse(_ bytes: [UInt8]) -> RawJSON? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(text: buffer)
            guard let value = parser.value() else { return nil }
            parser.skipSpace()
            return parser.position == buffer.count ? value : nil
        }
    }

    /// The member `key` of an object (nil for other values or a missing key).
    subscript(_ key: String) -> RawJSON? {
        guard case .object(let members) = self else { return nil }
        let wanted = Array(key.utf8)
        return members.first { $0.key == wanted }?.value
    }

    var text: String? { if case .string(let s) = self { return String(decoding: s, as: UTF8.self) } else { return nil } }
    var bytes: [UInt8]? { if case .string(let s) = self { return s } else { return nil } }
    var array: [RawJSON]? { if case .array(let a) = self { return a } else { return nil } }
    var members: [(key: [UInt8], value: RawJSON)]? { if case .object(let m) = self { return m } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
    var int: Int? {
        guard case .number(let d) = self, d == d.rounded(), abs(d) < 9e15 else { return nil }
        return Int(d)
    }

    private struct Parser {
        let text: UnsafeBufferPointer<UInt8>
        var position = 0

        mutating func skipSpace() {
            while position < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[position]) { position += 1 }
        }

        mutating func value() -> RawJSON? {
            skipSpace()
            guard position < text.count else { return nil }
            switch text[position] {
            case UInt8(ascii: "{"): return object()
            case UInt8(ascii: "["): return array()
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        private mutating func literal(_ word: String, _ result: RawJSON) -> RawJSON? {
            let bytes = Array(word.utf8)
            guard text.count - position >= bytes.count, bytes.indices.allSatisfy({ text[position + $0] == bytes[$0] }) else { return nil }
            position += bytes.count
            return result
        }

        private mutating func number() -> RawJSON? {
            let start = position
            while position < text.count, "+-0123456789.eE".utf8.contains(text[position]) { position += 1 }
            guard position > start, let value = Double(String(decoding: text[start..<position], as: UTF8.self)) else { return nil }
            return .number(value)
        }

        private mutating func object() -> RawJSON? {
            position += 1
            var members: [(key: [UInt8], value: RawJSON)] = []
            skipSpace()
            if position < text.count, text[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipSpace()
                guard position < text.count, text[position] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard position < text.count, text[position] == UInt8(ascii: ":") else { return nil }
                position += 1
                guard let member = value() else { return nil }
                members.append((key, member))
                skipSpace()
                guard position < text.count else { return nil }
                position += 1
                if text[position - 1] == UInt8(ascii: "}") { return .object(members) }
                guard text[position - 1] == UInt8(ascii: ",") else { return nil }
            }
        }

        private mutating func array() -> RawJSON? {
            position += 1
            var items: [RawJSON] = []
            skipSpace()
            if position < text.count, text[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                guard let item = value() else { return nil }
                items.append(item)
                skipSpace()
                guard position < text.count else { return nil }
                position += 1
                if text[position - 1] == UInt8(ascii: "]") { return .array(items) }
                guard text[position - 1] == UInt8(ascii: ",") else { return nil }
            }
        }

        /// A string literal's bytes, escapes resolved (a lone surrogate becomes U+FFFD).
        private mutating func string() -> [UInt8]? {
            position += 1
            var out: [UInt8] = []
            while position < text.count {
                let byte = text[position]
                position += 1
                if byte == UInt8(ascii: "\"") { return out }
                guard byte == UInt8(ascii: "\\") else { out.append(byte); continue }
                guard position < text.count else { return nil }
                let escape = text[position]
                position += 1
                switch escape {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var unit = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(unit), text.count - position >= 6,
                       text[position] == UInt8(ascii: "\\"), text[position + 1] == UInt8(ascii: "u") {
                        let saved = position
                        position += 2
                        if let low = hex4(), (0xDC00..<0xE000).contains(low) {
                            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            position = saved
                        }
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(unit) ?? "\u{FFFD}").utf8))
                default: out.append(escape)
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard text.count - position >= 4 else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Character(Unicode.Scalar(text[position])).hexDigitValue else { return nil }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }
    }
}
