import GPT

/// The `[model]` keys beyond layers, width, heads and context: which family, the vocabulary, and
/// Llama's own sizes (docs/JOBS.md).
public struct ArchitectureKeys: Equatable, Sendable {
    /// `model.vocab`: a fresh model's vocabulary (default: the tokenizer's; larger leaves ids unused).
    public var vocab: Int? = nil
    /// `model.architecture`: "gpt2" (the default when unset) or "llama".
    public var architecture: String? = nil
    /// `model.kv_heads`: Llama key/value heads (default: model.heads).
    public var kvHeads: Int? = nil
    /// `model.intermediate`: Llama's MLP width (default: 8/3 of model.width, rounded up to a multiple of 8).
    public var intermediate: Int? = nil
    /// `model.tie_embeddings`: whether Llama's output head is the token embedding (default false).
    public var tieEmbeddings: Bool? = nil
    /// `model.rope_theta`: Llama's RoPE base (default 10000).
    public var ropeTheta: Double? = nil

    func validate(path: String, width: Int, heads: Int) throws {
        func fail(_ message: String) -> JobFileError { JobFileError(path, message) }
        if let vocab, vocab < 1 { throw fail("'model.vocab' must be at least 1 (or unset: the tokenizer's size)") }
        guard let family = Architecture(rawValue: architecture ?? "gpt2") else {
            throw fail("'model.architecture' must be \"gpt2\" or \"llama\", not \"\(architecture ?? "")\"")
        }
        if family == .gpt2 {
            let set = [("kv_heads", kvHeads != nil), ("intermediate", intermediate != nil),
                       ("tie_embeddings", tieEmbeddings != nil), ("rope_theta", ropeTheta != nil)].filter(\.1).map(\.0)
            if let key = set.first {
                throw fail("'model.\(key)' is a Llama key, but model.architecture is \"gpt2\"; set model.architecture = \"llama\" or remove it")
            }
            return
        }
        let kv = kvHeads ?? heads
        guard kv >= 1, heads % kv == 0 else {
            throw fail("'model.kv_heads' (\(kv)) must be at least 1 and divide model.heads (\(heads))")
        }
        guard (width / heads) % 2 == 0 else {
            throw fail("'model.width' / 'model.heads' (\(width / heads)) must be even for rotary positions; change model.width or model.heads")
        }
        if let intermediate, intermediate < 1 { throw fail("'model.intermediate' must be at least 1") }
        if let ropeTheta, !(ropeTheta > 0 && ropeTheta.isFinite) { throw fail("'model.rope_theta' must be a positive number") }
    }

    /// The model config these keys describe for a fresh model of the given shared shape.
    func config(vocabSize tokenizerSize: Int, context: Int, width: Int, layers: Int, heads: Int) -> GPTConfig {
        let vocabSize = vocab ?? tokenizerSize
        guard architecture == Architecture.llama.rawValue else {
            return GPTConfig(vocabSize: vocabSize, contextLength: context, embedDim: width, layers: layers, heads: heads)
        }
        return .llama(vocabSize: vocabSize, contextLength: context, embedDim: width, layers: layers, heads: heads,
                      keyValueHeads: kvHeads ?? heads, intermediateSize: intermediate ?? (8 * width / 3 + 7) / 8 * 8,
                      ropeTheta: ropeTheta ?? 10_000, tiedHead: tieEmbeddings ?? false)
    }

    /// Effective values, each only when set, so jobs stored before these keys existed compare equal.
    var effectiveValues: [(key: String, value: String)] {
        var values: [(String, String)] = []
        if let architecture { values.append(("model.architecture", "\"\(architecture)\"")) }
        if let vocab { values.append(("model.vocab", "\(vocab)")) }
        if let kvHeads { values.append(("model.kv_heads", "\(kvHeads)")) }
        if let intermediate { values.append(("model.intermediate", "\(intermediate)")) }
        if let tieEmbeddings { values.append(("model.tie_embeddings", "\(tieEmbeddings)")) }
        if let ropeTheta { values.append(("model.rope_theta", "\(ropeTheta)")) }
        return values
    }
}

extension TableReader {
    /// Reads `model.architecture` and the Llama keys.
    func readArchitecture(into job: inout JobFile) throws {
        var keys = ArchitectureKeys()
        keys.architecture = try string("model", "architecture")
        keys.vocab = try int("model", "vocab")
        keys.kvHeads = try int("model", "kv_heads")
        keys.intermediate = try int("model", "intermediate")
        keys.tieEmbeddings = try bool("model", "tie_embeddings")
        keys.ropeTheta = try double("model", "rope_theta")
        job.architecture = keys
    }
}
