import Foundation

/// A Hugging Face `tokenizer.json` with a BPE model: byte-level (GPT-2, SmolLM, Llama 3) or
/// SentencePiece-style with `▁` and byte fallback (Llama 2, TinyLlama).
///
/// Encoding gives the ids of `tokenizers`' `Tokenizer.encode(text)` (special tokens added):
/// added tokens are cut out of the raw text first (those marked `normalized` out of the
/// normalized text), each stretch between them is normalized and pre-tokenized, each
/// pre-token goes through the BPE model (with a word cache), and the post-processor's tokens
/// (Llama's `<s>`) go around the whole. `truncation` and `padding` are ignored: the corpus is
/// tokenized whole. Decoding runs the file's decoder, skipping special tokens by default.
public final class HuggingFaceTokenizer: TextTokenizer {
    public let vocabularySize: Int
    public let fingerprint: UInt64
    /// The beginning-of-sequence token: tokenizer_config.json's `bos_token`, else the first
    /// token the post-processor prepends, else a special added token named like one.
    public let bos: TokenID?
    /// The end-of-sequence token: tokenizer_config.json's `eos_token`, else a special added
    /// token named like one (`</s>`, `<|end_of_text|>`, `<|endoftext|>`, `<eos>`).
    public let eos: TokenID?
    /// The ids the post-processor puts before and after each encoded text (e.g. `[bos]`, `[]`).
    public let prefix: [TokenID]
    public let suffix: [TokenID]

    private let file: HuggingFaceTokenizerFile
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    /// The text of each id: added tokens first, then the model's vocabulary.
    private let tokenText: [[UInt8]?]
    private let specialIDs: Set<TokenID>

    public var endOfText: TokenID? { eos }
    /// Number of merge rules.
    public var mergeCount: Int { file.model.merges.count }

    /// Reads `path`: a `tokenizer.json` file, or a folder holding one. A `tokenizer_config.json`
    /// beside it names the bos and eos tokens.
    public convenience init(path: String) throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let json = isDirectory.boolValue ? (path as NSString).appendingPathComponent("tokenizer.json") : path
        guard exists, let data = FileManager.default.contents(atPath: json) else {
            throw TokenizerError("cannot read \(json) — give a Hugging Face tokenizer.json file or a model folder holding one")
        }
        let configPath = ((json as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
        try self.init(json: [UInt8](data), config: FileManager.default.contents(atPath: configPath).map { [UInt8]($0) }, source: json)
    }

    /// Builds the tokenizer from the contents of `tokenizer.json` and, optionally,
    /// `tokenizer_config.json`; `source` names the file in errors.
    public init(json: [UInt8], config: [UInt8]? = nil, source: String = "tokenizer.json") throws {
        guard let root = RawJSON.parse(json), root.members != nil else {
            throw TokenizerError("\(source) is not a JSON object — give the tokenizer.json of a Hugging Face model")
        }
        file = try HuggingFaceTokenizerFile(root, source: source)
        rawMatcher = AddedTokenMatcher(file.addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(file.addedTokens.filter(\.normalized))
        var texts: [[UInt8]?] = []
        func place(_ id: Int32, _ text: [UInt8]) {
            if Int(id) >= texts.count { texts += Array(repeating: nil, count: Int(id) + 1 - texts.count) }
            if texts[Int(id)] == nil { texts[Int(id)] = text }
        }
        for token in file.addedTokens { place(token.id, token.content) }
        for (token, id) in Self.vocabEntries(root) { place(id, token) }
        tokenText = texts
        vocabularySize = texts.count
        specialIDs = Set(file.addedTokens.filter(\.special).map(\.id))
        prefix = file.prefix
        suffix = file.suffix
        var hasher = TokenCache.FNVHash()
        hasher.combine(json)
        hasher.combine(config ?? [])
        fingerprint = hasher.value
        let configJSON = config.flatMap { RawJSON.parse($0) }
        let specials = file.addedTokens.filter(\.special)
        func named(_ names: [String]) -> TokenID? {
            specials.first { token in names.contains { Array($0.utf8) == token.content } }?.id
        }
        bos = Self.configToken(configJSON, "bos_token", texts) ?? file.prefix.first
            ?? named(["<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>"])
        eos = Self.configToken(configJSON, "eos_token", texts) ?? named(["</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"])
    }

    private static func vocabEntries(_ root: RawJSON) -> [([UInt8], Int32)] {
        (root["model"]?["vocab"]?.members ?? []).compactMap { entry in entry.value.int.map { (entry.key, Int32($0)) } }
    }

    /// The id of tokenizer_config.json's `key` (a string, or an object with `content`).
    private static func configToken(_ config: RawJSON?, _ key: String, _ texts: [[UInt8]?]) -> TokenID? {
        guard let value = config?[key], let content = value.bytes ?? value["content"]?.bytes else { return nil }
        return texts.firstIndex { $0 == content }.map { TokenID($0) }
    }

    /// The token text of `id` (as the vocabulary spells it), or nil outside the vocabulary.
    public func token(_ id: TokenID) -> String? {
        id >= 0 && Int(id) < tokenText.count ? tokenText[Int(id)].map { String(decoding: $0, as: UTF8.self) } : nil
    }

    /// Whether `id` is an added token marked special (skipped by `decode`).
    public func isSpecial(_ id: TokenID) -> Bool { specialIDs.contains(id) }

    public func encode(utf8 bytes: [UInt8]) -> [TokenID] {
        var encoder = Encoder(self)
        return encoder.encode(bytes, addSpecialTokens: true)
    }

    /// The ids of `bytes`, with or without the post-processor's tokens around them.
    public func encode(utf8 bytes: [UInt8], addSpecialTokens: Bool) -> [TokenID] {
        var encoder = Encoder(self)
        return encoder.encode(bytes, addSpecialTokens: addSpecialTokens)
    }

    /// Encodes every text with one shared word cache.
    public func encode(documents: [[UInt8]]) -> [[TokenID]] {
        encode(documents: documents, addSpecialTokens: true)
    }

    /// Encodes every text with one shared word cache, with or without the post-processor's tokens.
    public func encode(documents: [[UInt8]], addSpecialTokens: Bool) -> [[TokenID]] {
        var encoder = Encoder(self)
        return documents.map { encoder.encode($0, addSpecialTokens: addSpecialTokens) }
    }

    /// The text of `ids`, special tokens skipped, as `tokenizers`' `decode(ids)`.
    public func decode(_ ids: [TokenID]) -> String { decode(ids, skipSpecialTokens: true) }

    /// The text of `ids` through the file's decoder; ids outside the vocabulary are skipped.
    public func decode(_ ids: [TokenID], skipSpecialTokens: Bool) -> String {
        var tokens: [[UInt8]] = []
        for id in ids where id >= 0 && Int(id) < tokenText.count && !(skipSpecialTokens && specialIDs.contains(id)) {
            if let text = tokenText[Int(id)] { tokens.append(text) }
        }
        guard let steps = file.decoder else {
            return tokens.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        }
        for step in steps { tokens = step.apply(tokens) }
        return String(decoding: tokens.flatMap { $0 }, as: UTF8.self)
    }

    /// Encoding state: the word cache and scratch buffers. Not shared between threads.
    struct Encoder {
        let tokenizer: HuggingFaceTokenizer
        var cache = WordCache()
        var scratch = MergeScratch()

        init(_ tokenizer: HuggingFaceTokenizer) { self.tokenizer = tokenizer }

        mutating func encode(_ bytes: [UInt8], addSpecialTokens: Bool) -> [TokenID] {
            var out: [TokenID] = addSpecialTokens ? tokenizer.prefix : []
            out.reserveCapacity(bytes.count / 3)
            bytes.withUnsafeBufferPointer { text in
                tokenizer.rawMatcher.split(text, text: { range in
                    encodeStretch(UnsafeBufferPointer(rebasing: text[range]), first: range.lowerBound == 0, into: &out)
                }, token: { out.append($0) })
            }
            if addSpecialTokens { out += tokenizer.suffix }
            return out
        }

        /// Normalizes a stretch between raw added tokens, then cuts out the normalized ones.
        private mutating func encodeStretch(_ text: UnsafeBufferPointer<UInt8>, first: Bool, into out: inout [TokenID]) {
            if text.isEmpty { return }
            let file = tokenizer.file
            if file.normalizer.isEmpty && tokenizer.normalizedMatcher.isEmpty { return preTokenize(text, first: first, into: &out) }
            var normalized = Array(text)
            for step in file.normalizer { normalized = step.apply(normalized) }
            normalized.withUnsafeBufferPointer { buffer in
                tokenizer.normalizedMatcher.split(buffer, text: { range in
                    preTokenize(UnsafeBufferPointer(rebasing: buffer[range]), first: first && range.lowerBound == 0, into: &out)
                }, token: { out.append($0) })
            }
        }

        private mutating func preTokenize(_ text: UnsafeBufferPointer<UInt8>, first: Bool, into out: inout [TokenID]) {
            if text.isEmpty { return }
            PreTokenization.run(tokenizer.file.preTokenizer[...], text, first: first) { word in
                let hash = WordCache.hash(word)
                if cache.append(word, hash: hash, to: &out) { return }
                let before = out.count
                tokenizer.file.model.encode(word, scratch: &scratch, into: &out)
                cache.insert(word, hash: hash, result: out[before...])
            }
        }
    }
}
