import Kernels

/// The decoder-only model families this engine computes; `family` gives each one's code (`Families/`).
public enum Architecture: String, Codable, Hashable, Sendable, CaseIterable {
    /// GPT-2: learned positions, LayerNorm, GELU MLP, biases, head tied to the token embedding.
    case gpt2
    /// LLaMA (Hugging Face `LlamaForCausalLM`): RoPE, RMSNorm, SiLU-gated MLP, grouped-query attention, no biases.
    case llama
}

/// The shape of a model: GPT-2 or Llama (`GPTConfig.llama`). The GPT-2 initializer fills the Llama-only
/// fields with the values GPT-2 implies (one key/value head per query head, a 4C MLP, a tied head).
public struct GPTConfig: Codable, Hashable, Sendable {
    public var architecture: Architecture
    public var vocabSize: Int
    /// Hugging Face `n_positions` / `max_position_embeddings`: the longest sequence the model covers.
    public var contextLength: Int
    public var embedDim: Int
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// GPT-2 `layer_norm_epsilon`, Llama `rms_norm_eps`.
    public var layerNormEpsilon: Float
    /// Key/value heads (grouped-query attention); equal to `heads` for GPT-2.
    public var keyValueHeads: Int
    /// Channels per attention head (Llama `head_dim`, by default embedDim / heads).
    public var headDim: Int
    /// The MLP's hidden width (GPT-2: 4C; Llama `intermediate_size`).
    public var intermediateSize: Int
    /// RoPE base (Llama `rope_theta`); unused by GPT-2.
    public var ropeTheta: Double
    /// Llama 3's RoPE frequency scaling, when the config asks for it.
    public var ropeScaling: RopeScaling?
    /// Whether the output head is the token embedding (always for GPT-2).
    public var tiedHead: Bool

    /// A GPT-2 shape.
    public init(vocabSize: Int, contextLength: Int, embedDim: Int, layers: Int, heads: Int, layerNormEpsilon: Float = 1e-5) {
        architecture = .gpt2
        self.vocabSize = vocabSize; self.contextLength = contextLength; self.embedDim = embedDim
        self.layers = layers; self.heads = heads; self.layerNormEpsilon = layerNormEpsilon
        keyValueHeads = heads; headDim = heads > 0 ? embedDim / heads : 0; intermediateSize = 4 * embedDim
        ropeTheta = 10_000; ropeScaling = nil; tiedHead = true
    }

    /// The model's trainable blocks: 0 = embeddings, 1...layers = the transformer layers, layers + 1 =
    /// the final norm (with an untied head). The one count `ParameterLayout` and Federation ask.
    public var blockCount: Int { layers + 2 }

    /// Index of the final block: the final norm, and the head when it is untied.
    public var finalNormBlock: Int { layers + 1 }

    /// Width of the attention's output (query heads × head size).
    public var attentionWidth: Int { heads * headDim }

    /// Width of the packed query, key and value rows.
    public var qkvWidth: Int { (heads + 2 * keyValueHeads) * headDim }

    /// Throws `GPTError.invalidConfig`, naming the family's config key, unless every size is positive
    /// and the heads fit the width.
    public func validate() throws {
        try family.validate(self)
        if !(layerNormEpsilon > 0) {
            throw GPTError.invalidConfig("\(configName(.normEpsilon)) must be positive, found \(layerNormEpsilon)")
        }
    }
}

/// Errors from loading, saving and checking models.
public enum GPTError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case safetensors(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case missingTensor(String)
    case unexpectedTensor(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid model config: \(m)"
        case .safetensors(let m): return "invalid safetensors file: \(m)"
        case let .shapeMismatch(t, e, f): return "tensor \(t): expected shape \(e), found \(f)"
        case .missingTensor(let t): return "missing tensor \(t)"
        case .unexpectedTensor(let t): return "unexpected tensor \(t) (not part of a model of this shape)"
        case .io(let m): return m
        }
    }
}
