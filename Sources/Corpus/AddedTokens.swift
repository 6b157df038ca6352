/// A token of `tokenizer.json`'s `added_tokens`: matched in the text before the model sees it.
struct AddedToken: Sendable {
    let content: [UInt8]
    let id: Int32
    let special: Bool
    /// Matched in the normalized text (true) or in the raw text (false).
    let normalized: Bool
    let leftStrip: Bool
    let rightStrip: Bool
    let singleWord: Bool
}

/// Finds added tokens in text the way `tokenizers` does: leftmost-longest, without overlaps,
/// a match widened over the whitespace beside it under `lstrip`/`rstrip` and skipped, when
/// `single_word` is set, if a word character touches it.
struct AddedTokenMatcher: Sendable {
    private let tokens: [AddedToken]
    /// For each first byte, the tokens starting with it, longest first.
    private let byFirstByte: [[Int]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var table = [[Int]](repeating: [], count: 256)
        for (index, token) in tokens.enumerated() where !token.content.isEmpty { table[Int(token.content[0])].append(index) }
        byFirstByte = table.map { $0.sorted { tokens[$0].content.count > tokens[$1].content.count } }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Calls `text` for each stretch between matches and `token` for each match, in order.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, text: (Range<Int>) -> Void, token: (Int32) -> Void) {
        var segmentStart = 0, i = 0
        while i < bytes.count {
            guard let (index, end) = match(bytes, at: i) else { i += 1; continue }
            let added = tokens[index]
            if added.singleWord && !(Self.isWordBoundary(bytes, before: i) && Self.isWordBoundary(bytes, after: end)) {
                i = end
                continue
            }
            let start = added.leftStrip ? Self.whitespaceStart(bytes, before: i, notBefore: segmentStart) : i
            let stop = added.rightStrip ? Self.whitespaceEnd(bytes, after: end) : end
            text(segmentStart..<start)
            token(added.id)
            segmentStart = stop
            i = stop
        }
        text(segmentStart..<bytes.count)
    }

    @inline(__always)
    private func match(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int, Int)? {
        for index in byFirstByte[Int(bytes[i])] {
            let content = tokens[index].content
            if bytes.count - i >= content.count && content.indices.allSatisfy({ bytes[i + $0] == content[$0] }) {
                return (index, i + content.count)
            }
        }
        return nil
    }

    private static func scalars(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String.UnicodeScalarView {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self).unicodeScalars
    }

    private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    private static func isWordBoundary(_ bytes: UnsafeBufferPointer<UInt8>, before i: Int) -> Bool {
        guard let last = scalars(bytes, max(0, i - 4)..<i).last else { return true }
        return !isWordCharacter(last)
    }

    private static func isWordBoundary(_ bytes: UnsafeBufferPointer<UInt8>, after end: Int) -> Bool {
        guard let next = scalars(bytes, end..<min(bytes.count, end + 4)).first else { return true }
        return !isWordCharacter(next)
    }

    /// The start of the whitespace run ending at `i`, not before `limit`.
    private static func whitespaceStart(_ bytes: UnsafeBufferPointer<UInt8>, before i: Int, notBefore limit: Int) -> Int {
        var start = i
        for scalar in scalars(bytes, limit..<i).reversed() {
            guard scalar.properties.isWhitespace else { break }
            start -= String(scalar).utf8.count
        }
        return start
    }

    /// The end of the whitespace run starting at `end`.
    private static func whitespaceEnd(_ bytes: UnsafeBufferPointer<UInt8>, after end: Int) -> Int {
        var stop = end
        for scalar in scalars(bytes, end..<bytes.count) {
            guard scalar.properties.isWhitespace else { break }
            stop += String(scalar).utf8.count
        }
        return stop
    }
}

/// One step of a `tokenizer.json` normalizer, on the UTF-8 bytes of a stretch of text.
enum NormalizerStep: Equatable, Sendable {
    /// `Prepend`: the string in front of a non-empty text.
    case prepend([UInt8])
    /// `Replace` with a string pattern: every occurrence, left to right.
    case replace(pattern: [UInt8], content: [UInt8])

    /// The text after this step.
    func apply(_ text: [UInt8]) -> [UInt8] {
        switch self {
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            let hits = text.withUnsafeBufferPointer { PreTokenization.occurrences(of: pattern, in: $0) }
            if hits.isEmpty { return text }
            var out: [UInt8] = []
            out.reserveCapacity(text.count + hits.count * content.count)
            var start = 0
            for hit in hits {
                out.append(contentsOf: text[start..<hit])
                out.append(contentsOf: content)
                start = hit + pattern.count
            }
            out.append(contentsOf: text[start...])
            return out
        }
    }
}
