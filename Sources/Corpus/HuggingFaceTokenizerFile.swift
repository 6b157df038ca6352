/// The parts of a `tokenizer.json` that decide ids, read and checked: what this program does
/// not compute exactly is refused naming its kind, so no run trains on ids that differ from
/// the ones `tokenizers` would give.
struct HuggingFaceTokenizerFile {
    var normalizer: [NormalizerStep] = []
    var preTokenizer: [PreTokenizerStep] = []
    var byteLevel = false
    var model: HuggingFaceBPEModel
    var addedTokens: [AddedToken] = []
    /// nil: no decoder, tokens are joined with spaces (as `tokenizers` does).
    var decoder: [DecoderStep]?
    /// The ids the post-processor puts around a single text.
    var prefix: [Int32] = []
    var suffix: [Int32] = []

    /// The remedy every refusal ends with.
    static let remedy = "fedcybgd reads BPE tokenizer.json files (GPT-2, Llama 2 and 3, TinyLlama, SmolLM style); "
        + "use such a model, or data.tokenizer = \"byte\""

    init(_ root: RawJSON, source: String) throws {
        func refuse(_ what: String) -> TokenizerError { TokenizerError("\(source): \(what) — \(Self.remedy)") }
        guard let modelJSON = root["model"], modelJSON.members != nil else { throw refuse("has no \"model\" object") }
        let kind = modelJSON["type"]?.text ?? (modelJSON["merges"] != nil ? "BPE" : "unknown")
        guard kind == "BPE" else { throw refuse("its model is \(kind), not BPE") }
        normalizer = try Self.normalizerSteps(root["normalizer"], refuse)
        (preTokenizer, byteLevel) = try Self.preTokenizerSteps(root["pre_tokenizer"], refuse)
        model = try Self.bpeModel(modelJSON, byteLevel: byteLevel, refuse)
        for item in root["added_tokens"]?.array ?? [] {
            guard let content = item["content"]?.bytes, let id = item["id"]?.int, id >= 0, id < Int(Int32.max) else {
                throw refuse("has an added token without content or id")
            }
            let special = item["special"]?.bool ?? false
            addedTokens.append(AddedToken(content: content, id: Int32(id), special: special,
                                          normalized: item["normalized"]?.bool ?? !special, leftStrip: item["lstrip"]?.bool ?? false,
                                          rightStrip: item["rstrip"]?.bool ?? false, singleWord: item["single_word"]?.bool ?? false))
        }
        decoder = try Self.decoderSteps(root["decoder"], refuse)
        (prefix, suffix) = try Self.postProcessorIDs(root["post_processor"], refuse)
    }

    private static func kind(_ json: RawJSON) -> String { json["type"]?.text ?? "untyped" }

    private static func stringPattern(_ json: RawJSON?, of what: String, _ refuse: (String) -> TokenizerError) throws -> [UInt8] {
        if let pattern = json?["String"]?.bytes { return pattern }
        throw refuse("its \(what) has a regex pattern \(json?["Regex"]?.text ?? "?"), which fedcybgd does not know")
    }

    static func normalizerSteps(_ json: RawJSON?, _ refuse: (String) -> TokenizerError) throws -> [NormalizerStep] {
        guard let json, !json.isNull else { return [] }
        switch kind(json) {
        case "Sequence": return try (json["normalizers"]?.array ?? []).flatMap { try normalizerSteps($0, refuse) }
        case "Prepend": return [.prepend(json["prepend"]?.bytes ?? [])]
        case "Replace":
            return [.replace(pattern: try stringPattern(json["pattern"], of: "Replace normalizer", refuse), content: json["content"]?.bytes ?? [])]
        case let other: throw refuse("its normalizer \(other) is not supported (only Sequence, Prepend and Replace)")
        }
    }

    /// The steps, and whether the text reaches the model byte-level (a ByteLevel pre-tokenizer, last).
    static func preTokenizerSteps(_ json: RawJSON?, _ refuse: (String) -> TokenizerError) throws -> ([PreTokenizerStep], Bool) {
        guard let json, !json.isNull else { return ([], false) }
        var steps: [PreTokenizerStep] = []
        var byteLevel = false
        for part in kind(json) == "Sequence" ? json["pretokenizers"]?.array ?? [] : [json] {
            if byteLevel { throw refuse("its ByteLevel pre-tokenizer is not the last of its Sequence") }
            switch kind(part) {
            case "ByteLevel":
                byteLevel = true
                if part["add_prefix_space"]?.bool ?? true { steps.append(.prefixSpace) }
                if part["use_regex"]?.bool ?? true { steps.append(.gpt2Split) }
            case "Split": steps.append(try splitStep(part, refuse))
            case "Digits": steps.append(.digits(individual: part["individual_digits"]?.bool ?? false))
            case "Metaspace":
                steps.append(.metaspace(replacement: part["replacement"]?.bytes ?? Array("▁".utf8), prepend: try prependScheme(part, refuse),
                                        split: part["split"]?.bool ?? true))
            case "Sequence": throw refuse("it nests a pre-tokenizer Sequence in another")
            case let other: throw refuse("its pre-tokenizer \(other) is not supported (only ByteLevel, Split, Digits, Metaspace and Sequence)")
            }
        }
        return (steps, byteLevel)
    }

    private static func splitStep(_ json: RawJSON, _ refuse: (String) -> TokenizerError) throws -> PreTokenizerStep {
        let behavior = json["behavior"]?.text ?? "Isolated"
        guard behavior == "Isolated", json["invert"]?.bool != true else {
            throw refuse("its Split pre-tokenizer has behavior \(behavior)\(json["invert"]?.bool == true ? " inverted" : ""); only Isolated is supported")
        }
        guard let pattern = json["pattern"]?["Regex"]?.text else {
            throw refuse("its Split pre-tokenizer splits on a plain string; only the GPT-2, Llama 3 and Qwen 2 regex patterns are supported")
        }
        switch pattern {
        case Llama3PreTokenizer.llama3Pattern: return .llama3Split(maxDigits: 3)
        case Llama3PreTokenizer.qwen2Pattern: return .llama3Split(maxDigits: 1)
        case #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: return .gpt2Split
        default: throw refuse("its Split pattern \(pattern) is not one fedcybgd knows (GPT-2's, Llama 3's or Qwen 2's)")
        }
    }

    private static func prependScheme(_ json: RawJSON, _ refuse: (String) -> TokenizerError) throws -> PrependScheme {
        if let scheme = json["prepend_scheme"]?.text {
            switch scheme {
            case "always": return .always
            case "first": return .first
            case "never": return .never
            default: throw refuse("its Metaspace prepend_scheme \(scheme) is unknown")
            }
        }
        return json["add_prefix_space"]?.bool ?? true ? .always : .never
    }

    private static func bpeModel(_ json: RawJSON, byteLevel: Bool, _ refuse: (String) -> TokenizerError) throws -> HuggingFaceBPEModel {
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = json[key]?.text, !value.isEmpty { throw refuse("its BPE model sets \(key) = \(value), which fedcybgd does not support") }
        }
        if case .number(let dropout)? = json["dropout"], dropout > 0 {
            throw refuse("its BPE model sets dropout = \(dropout), which makes ids random; set it to null")
        }
        guard let vocabJSON = json["vocab"]?.members else { throw refuse("its BPE model has no vocab object") }
        var vocab: [(token: [UInt8], id: Int32)] = []
        vocab.reserveCapacity(vocabJSON.count)
        for (token, value) in vocabJSON {
            guard let id = value.int, id >= 0, id < Int(Int32.max) else { throw refuse("its vocab gives \(String(decoding: token, as: UTF8.self)) no valid id") }
            vocab.append((token, Int32(id)))
        }
        var merges: [(left: [UInt8], right: [UInt8])] = []
        for (rank, merge) in (json["merges"]?.array ?? []).enumerated() {
            if let line = merge.bytes {
                let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw refuse("its merge \(rank + 1) is not two tokens separated by one space") }
                merges.append((Array(parts[0]), Array(parts[1])))
            } else if let pair = merge.array, pair.count == 2, let left = pair[0].bytes, let right = pair[1].bytes {
                merges.append((left, right))
            } else {
                throw refuse("its merge \(rank + 1) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return try HuggingFaceBPEModel(vocab: vocab, merges: merges, byteLevel: byteLevel,
                                       byteFallback: json["byte_fallback"]?.bool ?? false, unknownToken: json["unk_token"]?.bytes,
                                       fuseUnknown: json["fuse_unk"]?.bool ?? false, ignoreMerges: json["ignore_merges"]?.bool ?? false)
    }

    static func decoderSteps(_ json: RawJSON?, _ refuse: (String) -> TokenizerError) throws -> [DecoderStep]? {
        guard let json, !json.isNull else { return nil }
        switch kind(json) {
        case "Sequence": return try (json["decoders"]?.array ?? []).flatMap { try decoderSteps($0, refuse) ?? [] }
        case "ByteLevel": return [.byteLevel]
        case "ByteFallback": return [.byteFallback]
        case "Fuse": return [.fuse]
        case "Replace":
            return [.replace(pattern: try stringPattern(json["pattern"], of: "Replace decoder", refuse), content: json["content"]?.bytes ?? [])]
        case "Strip":
            guard let content = json["content"]?.text?.unicodeScalars.first else { throw refuse("its Strip decoder has no content") }
            return [.strip(content: content, start: json["start"]?.int ?? 0, stop: json["stop"]?.int ?? 0)]
        case "Metaspace":
            let replacement = json["replacement"]?.text?.unicodeScalars.first ?? "▁"
            return [.metaspace(replacement: replacement, prependScheme: try prependScheme(json, refuse))]
        case let other: throw refuse("its decoder \(other) is not supported (only ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace and Sequence)")
        }
    }

    /// The ids put before and after a single text.
    static func postProcessorIDs(_ json: RawJSON?, _ refuse: (String) -> TokenizerError) throws -> ([Int32], [Int32]) {
        guard let json, !json.isNull else { return ([], []) }
        switch kind(json) {
        case "ByteLevel": return ([], [])
        case "Sequence":
            var prefix: [Int32] = [], suffix: [Int32] = []
            for part in json["processors"]?.array ?? [] {
                let (p, s) = try postProcessorIDs(part, refuse)
                prefix = p + prefix
                suffix += s
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            guard let cls = json["cls"]?.array?.last?.int, let sep = json["sep"]?.array?.last?.int else {
                throw refuse("its \(kind(json)) post-processor lacks cls or sep")
            }
            return ([Int32(cls)], [Int32(sep)])
        case "TemplateProcessing":
            return try templateIDs(json, refuse)
        case let other: throw refuse("its post-processor \(other) is not supported (only TemplateProcessing, ByteLevel, Roberta/BertProcessing and Sequence)")
        }
    }

    private static func templateIDs(_ json: RawJSON, _ refuse: (String) -> TokenizerError) throws -> ([Int32], [Int32]) {
        var prefix: [Int32] = [], suffix: [Int32] = []
        var seenSequence = false
        for piece in json["single"]?.array ?? [] {
            if piece["Sequence"] != nil {
                seenSequence = true
            } else if let name = piece["SpecialToken"]?["id"]?.bytes {
                let special = json["special_tokens"]?.members?.first { $0.key == name }?.value
                guard let ids = special?["ids"]?.array?.compactMap(\.int) else {
                    throw refuse("its TemplateProcessing names \(String(decoding: name, as: UTF8.self)) but does not list its ids")
                }
                if seenSequence { suffix += ids.map(Int32.init) } else { prefix += ids.map(Int32.init) }
            } else {
                throw refuse("its TemplateProcessing has a piece that is neither SpecialToken nor Sequence")
            }
        }
        return (prefix, suffix)
    }
}
