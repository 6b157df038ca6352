/// Llama 3's pre-tokenisation, the `Split` regular expression of its `tokenizer.json`
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// matched left to right, written out by hand on UTF-8 bytes like `GPT2PreTokenizer` (whose
/// character classes it shares). Qwen 2's pattern is the same with `\p{N}` for `\p{N}{1,3}`:
/// `maxDigits` says how many number characters one pre-token takes.
enum Llama3PreTokenizer {
    /// The pattern as Llama 3's `tokenizer.json` spells it.
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen 2's: one number character per pre-token.
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Calls `body` with the byte range of every pre-token of `text`, in order.
    static func split(_ text: UnsafeBufferPointer<UInt8>, maxDigits: Int, _ body: (Range<Int>) -> Void) {
        var i = 0
        while i < text.count {
            let end = tokenEnd(text, from: i, maxDigits: maxDigits)
            body(i..<end)
            i = end
        }
    }

    @inline(__always)
    private static func isLineBreak(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }

    /// Where the pre-token starting at `i` ends: the alternatives of the pattern, in its order.
    static func tokenEnd(_ text: UnsafeBufferPointer<UInt8>, from i: Int, maxDigits: Int) -> Int {
        let n = text.count
        if text[i] == 0x27, let end = contractionEnd(text, i) { return end }
        let (first, firstLength) = GPT2PreTokenizer.character(text, i)
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if first == .letter { return run(of: .letter, text, from: i + firstLength) }
        if first != .number && !isLineBreak(text[i]) && i + firstLength < n,
           GPT2PreTokenizer.character(text, i + firstLength).0 == .letter {
            return run(of: .letter, text, from: i + firstLength)
        }
        // `\p{N}{1,3}`
        if first == .number {
            var j = i + firstLength, count = 1
            while j < n && count < maxDigits {
                let (cls, length) = GPT2PreTokenizer.character(text, j)
                if cls != .number { break }
                j += length
                count += 1
            }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var otherStart: Int? = first == .other ? i : nil
        if text[i] == 0x20 && i + 1 < n && GPT2PreTokenizer.character(text, i + 1).0 == .other { otherStart = i + 1 }
        if let start = otherStart {
            var j = run(of: .other, text, from: start)
            while j < n && isLineBreak(text[j]) { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: the whitespace run up to its last line break, if it has one.
        var j = i, lastStart = i, afterBreak: Int? = nil
        while j < n {
            let (cls, length) = GPT2PreTokenizer.character(text, j)
            if cls != .space { break }
            lastStart = j
            j += length
            if isLineBreak(text[lastStart]) { afterBreak = j }
        }
        if let afterBreak { return afterBreak }
        // `\s+(?!\S)` then `\s+`.
        if j < n && lastStart > i { return lastStart }
        return j
    }

    /// The end of the run of characters of class `cls` from `j`.
    @inline(__always)
    private static func run(of cls: GPT2PreTokenizer.CharClass, _ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var j = start
        while j < text.count {
            let (c, length) = GPT2PreTokenizer.character(text, j)
            if c != cls { break }
            j += length
        }
        return j
    }

    /// `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d` in any case. Under Unicode case folding
    /// (Oniguruma's `(?i:…)`) `ſ` (U+017F, UTF-8 C5 BF) is an `s` too.
    private static func contractionEnd(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        let n = text.count
        guard i + 1 < n else { return nil }
        func lower(_ k: Int) -> UInt8? { k < n ? text[k] | 0x20 : nil }
        switch text[i + 1] | 0x20 {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"): return lower(i + 2) == UInt8(ascii: "e") ? i + 3 : nil
        case UInt8(ascii: "l"): return lower(i + 2) == UInt8(ascii: "l") ? i + 3 : nil
        default: return text[i + 1] == 0xC5 && i + 2 < n && text[i + 2] == 0xBF ? i + 3 : nil
        }
    }
}
