import Foundation

/// A problem with tokenizer files, told in one line: what is wrong and what to do.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// GPT-2's byte-level BPE tokenizer, read from a `vocab.json` and a `merges.txt`.
///
/// It gives the ids Hugging Face's `GPT2TokenizerFast` (and `tokenizers` with a ByteLevel
/// pre-tokenizer, no prefix space) gives: the text is cut at `<|endoftext|>` (kept as its one
/// special id), each piece is split by GPT-2's pattern (`GPT2PreTokenizer`), each pre-token's
/// bytes become one id each through the byte-to-unicode table, and the merge rules join them,
/// best rank first. Encoding caches every pre-token it has seen (`WordCache`).
public final class BPETokenizer: TextTokenizer {
    /// The special token GPT-2 puts between documents.
    public static let endOfTextText = "<|endoftext|>"

    public let vocabularySize: Int
    public let endOfText: TokenID?
    public let fingerprint: UInt64
    /// The id of each byte's one-character token.
    private let byteIDs: [Int32]
    private let merges: BPEMerges
    /// What each id decodes to.
    private let tokenBytes: [[UInt8]]

    /// Number of merge rules.
    public var mergeCount: Int { merges.count }

    /// Reads `vocab.json` and `merges.txt` from `folder`.
    public convenience init(folder: String) throws {
        try self.init(vocabPath: (folder as NSString).appendingPathComponent("vocab.json"),
                      mergesPath: (folder as NSString).appendingPathComponent("merges.txt"))
    }

    public convenience init(vocabPath: String, mergesPath: String) throws {
        guard let vocab = FileManager.default.contents(atPath: vocabPath) else {
            throw TokenizerError("cannot read \(vocabPath) — a BPE tokenizer needs GPT-2's vocab.json; check the path")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesPath) else {
            throw TokenizerError("cannot read \(mergesPath) — a BPE tokenizer needs GPT-2's merges.txt; check the path")
        }
        try self.init(vocabJSON: vocab, merges: String(decoding: mergesData, as: UTF8.self),
                      vocabSource: vocabPath, mergesSource: mergesPath)
    }

    /// Builds the tokenizer from the two files' contents; the sources name them in errors.
    public init(vocabJSON: Data, merges: String, vocabSource: String = "vocab.json", mergesSource: String = "merges.txt") throws {
        let vocab: [String: Int]
        do { vocab = try JSONDecoder().decode([String: Int].self, from: vocabJSON) } catch {
            throw TokenizerError("\(vocabSource) is not a JSON object of token → id — use the vocab.json of a GPT-2 tokenizer")
        }
        guard let largest = vocab.values.max(), vocab.values.allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }) else {
            throw TokenizerError("\(vocabSource) has no tokens or a negative id — use the vocab.json of a GPT-2 tokenizer")
        }
        vocabularySize = largest + 1
        fingerprint = TokenCache.FNVHash.hash(Array(vocabJSON), then: Array(merges.utf8))
        var bytesByID = [[UInt8]](repeating: [], count: largest + 1)
        for (text, id) in vocab { bytesByID[id] = ByteLevelAlphabet.bytes(of: text) ?? Array(text.utf8) }
        tokenBytes = bytesByID
        byteIDs = try (0..<256).map { byte in
            let text = String(ByteLevelAlphabet.scalars[byte])
            guard let id = vocab[text] else {
                throw TokenizerError("\(vocabSource) lacks the byte token \(jsonEscaped(text)) (byte \(byte)); "
                    + "a byte-level BPE vocabulary needs all 256 — train it with ByteLevel.alphabet() as initial alphabet")
            }
            return Int32(id)
        }
        endOfText = vocab[Self.endOfTextText].map { Int32($0) }
        self.merges = BPEMerges(pairs: try Self.parseMerges(merges, vocab: vocab, source: mergesSource))
    }

    /// The merge rules, in rank order, as (left, right, merged) ids.
    private static func parseMerges(_ text: String, vocab: [String: Int], source: String) throws -> [(Int32, Int32, Int32)] {
        var pairs: [(Int32, Int32, Int32)] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError("\(source) line \(number + 1) is not two tokens separated by one space — use the merges.txt of a GPT-2 tokenizer")
            }
            let (left, right) = (String(parts[0]), String(parts[1]))
            for token in [left, right, left + right] where vocab[token] == nil {
                throw TokenizerError("\(source) line \(number + 1) uses \(jsonEscaped(token)), which vocab.json lacks — "
                    + "the two files must come from the same tokenizer")
            }
            pairs.append((Int32(vocab[left]!), Int32(vocab[right]!), Int32(vocab[left + right]!)))
        }
        return pairs
    }

    public func encode(utf8 bytes: [UInt8]) -> [TokenID] {
        var encoder = Encoder(self)
        return encoder.encode(bytes)
    }

    /// Encodes every text with one shared word cache, so later documents reuse earlier words.
    public func encode(documents: [[UInt8]]) -> [[TokenID]] {
        var encoder = Encoder(self)
        return documents.map { encoder.encode($0) }
    }

    public func decode(_ ids: [TokenID]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokenBytes.count { bytes.append(contentsOf: tokenBytes[Int(id)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of one token, or nil for an id outside the vocabulary.
    public func bytes(of id: TokenID) -> [UInt8]? {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : nil
    }

    /// Encoding state: the word cache and scratch buffers. Not shared between threads.
    struct Encoder {
        let tokenizer: BPETokenizer
        var cache = WordCache()
        var scratch = MergeScratch()
        var merged: [Int32] = []
        let special: [UInt8]

        init(_ tokenizer: BPETokenizer) {
            self.tokenizer = tokenizer
            special = tokenizer.endOfText == nil ? [] : Array(BPETokenizer.endOfTextText.utf8)
        }

        mutating func encode(_ bytes: [UInt8]) -> [TokenID] {
            var out: [TokenID] = []
            out.reserveCapacity(bytes.count / 3)
            bytes.withUnsafeBufferPointer { text in
                var start = 0
                while let hit = nextSpecial(text, from: start) {
                    encodePiece(UnsafeBufferPointer(rebasing: text[start..<hit]), into: &out)
                    out.append(tokenizer.endOfText!)
                    start = hit + special.count
                }
                encodePiece(UnsafeBufferPointer(rebasing: text[start...]), into: &out)
            }
            return out
        }

        /// Where the next `<|endoftext|>` starts, if the vocabulary has it.
        private func nextSpecial(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
            guard let first = special.first, text.count - start >= special.count else { return nil }
            var i = start
            while i + special.count <= text.count {
                if text[i] == first && special.indices.allSatisfy({ text[i + $0] == special[$0] }) { return i }
                i += 1
            }
            return nil
        }

        private mutating func encodePiece(_ text: UnsafeBufferPointer<UInt8>, into out: inout [TokenID]) {
            GPT2PreTokenizer.split(text) { range in
                let word = UnsafeBufferPointer(rebasing: text[range])
                let hash = WordCache.hash(word)
                if cache.append(word, hash: hash, to: &out) { return }
                scratch.ids.removeAll(keepingCapacity: true)
                for byte in word { scratch.ids.append(tokenizer.byteIDs[Int(byte)]) }
                let before = out.count
                tokenizer.merges.merge(&scratch, into: &out)
                cache.insert(word, hash: hash, result: out[before...])
            }
        }
    }
}

/// `text` as a JSON string literal, for naming a token in a message.
private func jsonEscaped(_ text: String) -> String {
    "\"" + text.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" ? String(format: "\\u%04x", $0.value) : String($0) }.joined() + "\""
}
