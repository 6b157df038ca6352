/// When a Metaspace pre-tokenizer puts its `▁` in front of a piece.
enum PrependScheme: Equatable {
    /// Every piece that does not start with one.
    case always
    /// Only the piece at the very start of the text.
    case first
    case never
}

/// One step of a `tokenizer.json` pre-tokenizer, cutting or rewriting pieces of text.
enum PreTokenizerStep: Equatable {
    /// ByteLevel's `add_prefix_space`: a space in front of a piece that does not start with one.
    case prefixSpace
    /// GPT-2's pattern (ByteLevel's `use_regex`, or a Split with that pattern).
    case gpt2Split
    /// Llama 3's pattern, or Qwen 2's with `maxDigits` 1.
    case llama3Split(maxDigits: Int)
    /// Digits: each number character alone, or each run of them.
    case digits(individual: Bool)
    /// Metaspace: spaces become `replacement`, which is prepended by `prepend` and, with
    /// `split`, starts a new piece wherever it occurs.
    case metaspace(replacement: [UInt8], prepend: PrependScheme, split: Bool)
}

/// Runs pre-tokenizer steps the way `tokenizers` does: each step on every piece the step
/// before left, empty pieces dropped.
enum PreTokenization {
    /// Calls `sink` with every final piece of `piece`. `first` says whether the piece starts
    /// the original text (Metaspace's `prepend_scheme = "first"` needs it).
    static func run(_ steps: ArraySlice<PreTokenizerStep>, _ piece: UnsafeBufferPointer<UInt8>, first: Bool,
                    _ sink: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard let step = steps.first else {
            if !piece.isEmpty { sink(piece) }
            return
        }
        let rest = steps.dropFirst()
        func next(_ range: Range<Int>) {
            run(rest, UnsafeBufferPointer(rebasing: piece[range]), first: first && range.lowerBound == 0, sink)
        }
        switch step {
        case .prefixSpace:
            if piece.first == 0x20 { return run(rest, piece, first: first, sink) }
            ([0x20] + Array(piece)).withUnsafeBufferPointer { run(rest, $0, first: first, sink) }
        case .gpt2Split:
            if !piece.isEmpty { GPT2PreTokenizer.split(piece, next) }
        case .llama3Split(let maxDigits):
            if !piece.isEmpty { Llama3PreTokenizer.split(piece, maxDigits: maxDigits, next) }
        case .digits(let individual):
            splitDigits(piece, individual: individual, next)
        case .metaspace(let replacement, let prepend, let split):
            var text = replacingSpaces(piece, with: replacement)
            let starts = text.starts(with: replacement)
            if !starts && (prepend == .always || (prepend == .first && first)) { text = replacement + text }
            text.withUnsafeBufferPointer { buffer in
                guard split else { return run(rest, buffer, first: first, sink) }
                var start = 0
                for cut in occurrences(of: replacement, in: buffer) where cut > start {
                    run(rest, UnsafeBufferPointer(rebasing: buffer[start..<cut]), first: first && start == 0, sink)
                    start = cut
                }
                run(rest, UnsafeBufferPointer(rebasing: buffer[start...]), first: first && start == 0, sink)
            }
        }
    }

    /// Cuts number characters off (each alone, or each run), keeping the text between as pieces.
    private static func splitDigits(_ text: UnsafeBufferPointer<UInt8>, individual: Bool, _ body: (Range<Int>) -> Void) {
        var start = 0, i = 0
        var inNumber = false
        while i < text.count {
            let (cls, length) = GPT2PreTokenizer.character(text, i)
            let isNumber = cls == .number
            if i > start && (isNumber != inNumber || (isNumber && individual)) {
                body(start..<i)
                start = i
            }
            inNumber = isNumber
            i += length
        }
        if i > start { body(start..<i) }
    }

    private static func replacingSpaces(_ text: UnsafeBufferPointer<UInt8>, with replacement: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 8)
        for byte in text {
            if byte == 0x20 { out.append(contentsOf: replacement) } else { out.append(byte) }
        }
        return out
    }

    /// Where `pattern` starts in `text`, left to right, without overlaps.
    static func occurrences(of pattern: [UInt8], in text: UnsafeBufferPointer<UInt8>) -> [Int] {
        guard let head = pattern.first, text.count >= pattern.count else { return [] }
        var found: [Int] = []
        var i = 0
        while i + pattern.count <= text.count {
            if text[i] == head && (1..<pattern.count).allSatisfy({ text[i + $0] == pattern[$0] }) {
                found.append(i)
                i += pattern.count
            } else {
                i += 1
            }
        }
        return found
    }
}
