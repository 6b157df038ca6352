/// GPT-2's pre-tokenisation, the regular expression
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// matched left to right over the text, written out by hand on UTF-8 bytes: a regex engine
/// would be the slowest part of encoding, and Foundation's does not promise the same `\s`.
/// `\s` is Unicode White_Space, `\p{L}` the letter categories (Lu Ll Lt Lm Lo) and `\p{N}` the
/// number categories (Nd Nl No), as in Oniguruma, which Hugging Face `tokenizers` uses.
/// Bytes that are not valid UTF-8 count as one "other" character each.
enum GPT2PreTokenizer {
    enum CharClass: UInt8 { case letter, number, space, other }

    /// Classes of the ASCII characters, looked up rather than computed on the hot path.
    private static let asciiClasses: [CharClass] = (0..<128).map { byte in
        switch byte {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .space
        default: return .other
        }
    }

    /// The class and UTF-8 length of the character starting at `i`.
    @inline(__always)
    static func character(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> (CharClass, Int) {
        let lead = text[i]
        if lead < 0x80 { return (asciiClasses[Int(lead)], 1) }
        guard let (scalar, length) = decode(text, i) else { return (.other, 1) }
        return (classify(scalar), length)
    }

    static func classify(_ scalar: Unicode.Scalar) -> CharClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Decodes one multi-byte UTF-8 sequence, refusing overlong forms, surrogates and values
    /// past U+10FFFF, as Swift's own decoder does.
    @inline(__always)
    private static func decode(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        let lead = UInt32(text[i])
        let length: Int, minimum: UInt32
        var value: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; value = lead & 0x1F
        case 0xE0...0xEF: length = 3; minimum = 0x800; value = lead & 0x0F
        case 0xF0...0xF4: length = 4; minimum = 0x10000; value = lead & 0x07
        default: return nil
        }
        guard i + length <= text.count else { return nil }
        for k in 1..<length {
            let byte = UInt32(text[i + k])
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | (byte & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// Calls `body` with the byte range of every pre-token of `text`, in order; the ranges
    /// cover the text exactly.
    static func split(_ text: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        var i = 0
        while i < text.count {
            let end = tokenEnd(text, from: i)
            body(i..<end)
            i = end
        }
    }

    /// Where the pre-token starting at `i` ends: the alternatives of the pattern, in its order.
    @inline(__always)
    static func tokenEnd(_ text: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        let n = text.count
        if text[i] == 0x27, let end = contractionEnd(text, i) { return end }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of one class.
        let start = text[i] == 0x20 && i + 1 < n ? i + 1 : i
        let (first, firstLength) = character(text, start)
        if first != .space {
            var j = start + firstLength
            while j < n {
                let (cls, length) = character(text, j)
                if cls != first { break }
                j += length
            }
            return j
        }
        // `\s+(?!\S)` then `\s+`: a whitespace run, less its last character when a
        // non-space follows and the run has more than one character.
        var j = i, lastStart = i
        while j < n {
            let (cls, length) = character(text, j)
            if cls != .space { break }
            lastStart = j
            j += length
        }
        if j < n && lastStart > i { return lastStart }
        return j
    }

    /// `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d` (lower case only, as in GPT-2).
    @inline(__always)
    private static func contractionEnd(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        guard i + 1 < text.count else { return nil }
        switch text[i + 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 2 < text.count && text[i + 2] == UInt8(ascii: "e") ? i + 3 : nil
        case UInt8(ascii: "l"):
            return i + 2 < text.count && text[i + 2] == UInt8(ascii: "l") ? i + 3 : nil
        default: return nil
        }
    }
}
