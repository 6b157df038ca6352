/// The `BPE` model of a `tokenizer.json`: a word (one pre-token) to ids, as `tokenizers`'
/// `BPE::tokenize` gives them.
///
/// A byte-level model (one behind a ByteLevel pre-tokenizer) starts from one symbol per byte;
/// otherwise each character is looked up, and a character the vocabulary lacks becomes its
/// `<0xXX>` byte tokens (`byte_fallback`) or the unknown token (fused with its neighbours under
/// `fuse_unk`), or is dropped when there is neither, as in `tokenizers`. With `ignore_merges`
/// a word that is itself in the vocabulary is that one token. Merges run in `BPEMerges`.
struct HuggingFaceBPEModel: Sendable {
    /// The vocabulary by the bytes each token stands for (the byte-to-unicode table undone
    /// for a byte-level model; tokens outside that table cannot occur there and are left out).
    let wordIDs: [[UInt8]: Int32]
    let byteLevel: Bool
    /// A byte-level model's id for each byte, -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// A character model's id for each one-character token.
    let characterIDs: [UInt32: Int32]
    /// The `<0xXX>` ids when `byte_fallback` is on (-1 for a missing one), else empty.
    let fallbackIDs: [Int32]
    let unknown: Int32?
    let fuseUnknown: Bool
    let ignoreMerges: Bool
    let merges: BPEMerges

    /// Builds the model from the vocabulary (token text bytes → id) and merge pairs in rank order.
    init(vocab: [(token: [UInt8], id: Int32)], merges: [(left: [UInt8], right: [UInt8])], byteLevel: Bool,
         byteFallback: Bool, unknownToken: [UInt8]?, fuseUnknown: Bool, ignoreMerges: Bool) throws {
        var byText: [[UInt8]: Int32] = [:]
        byText.reserveCapacity(vocab.count)
        for (token, id) in vocab { byText[token] = id }
        self.byteLevel = byteLevel
        var words: [[UInt8]: Int32] = [:]
        var characters: [UInt32: Int32] = [:]
        for (token, id) in vocab {
            if byteLevel {
                if let bytes = ByteLevelAlphabet.bytes(of: String(decoding: token, as: UTF8.self)) { words[bytes] = id }
            } else {
                words[token] = id
                let scalars = String(decoding: token, as: UTF8.self).unicodeScalars
                if scalars.count == 1, let scalar = scalars.first { characters[scalar.value] = id }
            }
        }
        wordIDs = words
        characterIDs = characters
        byteIDs = (0..<256).map { byText[Array(String(ByteLevelAlphabet.scalars[$0]).utf8)] ?? -1 }
        fallbackIDs = byteFallback ? (0..<256).map { byText[Array(String(format: "<0x%02X>", $0).utf8)] ?? -1 } : []
        if let unknownToken {
            guard let id = byText[unknownToken] else {
                throw TokenizerError("tokenizer.json's unk_token \(String(decoding: unknownToken, as: UTF8.self)) is not in its vocabulary — "
                    + "the file is damaged; use the model's own tokenizer.json")
            }
            unknown = id
        } else {
            unknown = nil
        }
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        var pairs: [(Int32, Int32, Int32)] = []
        pairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            guard let left = byText[merge.left], let right = byText[merge.right], let joined = byText[merge.left + merge.right] else {
                throw TokenizerError("tokenizer.json's merge \(rank + 1) (\(String(decoding: merge.left, as: UTF8.self)) "
                    + "\(String(decoding: merge.right, as: UTF8.self))) uses a token its vocabulary lacks — the file is damaged; "
                    + "use the model's own tokenizer.json")
            }
            pairs.append((left, right, joined))
        }
        self.merges = BPEMerges(pairs: pairs)
    }

    /// Appends the ids of `word` to `out`; `scratch` is reused between words.
    func encode(_ word: UnsafeBufferPointer<UInt8>, scratch: inout MergeScratch, into out: inout [Int32]) {
        if word.isEmpty { return }
        if ignoreMerges, let id = wordIDs[Array(word)] {
            out.append(id)
            return
        }
        scratch.ids.removeAll(keepingCapacity: true)
        if byteLevel {
            var pendingUnknown = false
            for byte in word {
                let id = byteIDs[Int(byte)]
                if id >= 0 {
                    if pendingUnknown, let unknown { scratch.ids.append(unknown) }
                    pendingUnknown = false
                    scratch.ids.append(id)
                } else {
                    addUnknown(&pendingUnknown, &scratch)
                }
            }
            if pendingUnknown, let unknown { scratch.ids.append(unknown) }
        } else {
            symbolsOfCharacters(word, &scratch)
        }
        merges.merge(&scratch, into: &out)
    }

    /// An unknown symbol: fused with a pending one, or the pending one flushed first.
    @inline(__always)
    private func addUnknown(_ pending: inout Bool, _ scratch: inout MergeScratch) {
        guard let unknown else { return }
        if pending && !fuseUnknown { scratch.ids.append(unknown) }
        pending = true
    }

    /// One symbol per character, with byte fallback and unknowns as `tokenizers`' `merge_word`
    /// makes them (byte tokens do not flush a pending unknown there, and so not here).
    private func symbolsOfCharacters(_ word: UnsafeBufferPointer<UInt8>, _ scratch: inout MergeScratch) {
        var pendingUnknown = false
        var i = 0
        while i < word.count {
            let length = Self.characterLength(word, i)
            if let id = characterID(word, i, length) {
                if pendingUnknown, let unknown { scratch.ids.append(unknown) }
                pendingUnknown = false
                scratch.ids.append(id)
            } else if !fallbackIDs.isEmpty && (i..<(i + length)).allSatisfy({ fallbackIDs[Int(word[$0])] >= 0 }) {
                for k in i..<(i + length) { scratch.ids.append(fallbackIDs[Int(word[k])]) }
            } else {
                addUnknown(&pendingUnknown, &scratch)
            }
            i += length
        }
        if pendingUnknown, let unknown { scratch.ids.append(unknown) }
    }

    @inline(__always)
    private func characterID(_ word: UnsafeBufferPointer<UInt8>, _ i: Int, _ length: Int) -> Int32? {
        guard let scalar = Self.scalar(word, i, length) else { return nil }
        return characterIDs[scalar]
    }

    /// The UTF-8 length of the character at `i`; a byte that starts no valid character counts as one.
    static func characterLength(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let lead = text[i]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        guard length > 1 else { return 1 }
        return scalar(text, i, length) == nil ? 1 : length
    }

    private static func scalar(_ text: UnsafeBufferPointer<UInt8>, _ i: Int, _ length: Int) -> UInt32? {
        if length == 1 { return text[i] < 0x80 ? UInt32(text[i]) : nil }
        guard i + length <= text.count else { return nil }
        var decoder = UTF8()
        var iterator = UnsafeBufferPointer(rebasing: text[i..<(i + length)]).makeIterator()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator), iterator.next() == nil else { return nil }
        return scalar.value
    }
}
