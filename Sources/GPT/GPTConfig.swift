import Kernels

/// The decoder-only model families this engine computes.
public enum Architecture: String, Codable, Hashable, Sendable, CaseIterable {
    /// GPT-2: learned positions, LayerNorm, GELU MLP, biases, head tied to the token embedding.
    case gpt2
    /// LLaMA (Hugging Face `LlamaForCausalLM`): RoPE, RMSNorm, SiLU-gated MLP, grouped-query attention, no biases.
    case llama
}

/// The shape of a model: GPT-2 or Llama. The GPT-2 initializer fills the Llama-only fields with the
/// values GPT-2 implies (one key/value head per query head, a 4C MLP, a tied head).
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

    /// A Llama shape; `headDim` defaults to embedDim / heads as in transformers.
    public static func llama(
        vocabSize: Int, contextLength: Int, embedDim: Int, layers: Int, heads: Int, keyValueHeads: Int,
        intermediateSize: Int, headDim: Int? = nil, ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil,
        rmsNormEpsilon: Float = 1e-5, tiedHead: Bool = false
    ) -> GPTConfig {
        var c = GPTConfig(vocabSize: vocabSize, contextLength: contextLength, embedDim: embedDim, layers: layers,
                          heads: heads, layerNormEpsilon: rmsNormEpsilon)
        c.architecture = .llama
        c.keyValueHeads = keyValueHeads
        c.headDim = headDim ?? (heads > 0 ? embedDim / heads : 0)
        c.intermediateSize = intermediateSize
        c.ropeTheta = ropeTheta; c.ropeScaling = ropeScaling; c.tiedHead = tiedHead
        return c
    }

    /// Index of the final norm's block (blocks are 0 = embeddings, 1...layers, layers + 1 = final norm,
    /// with Llama's untied lm_head).
    public var finalNormBlock: Int { layers + 1 }

    /// Width of the attention's output (query heads × head size).
    public var attentionWidth: Int { heads * headDim }

    /// Width of the packed query, key and value rows.
    public var qkvWidth: Int { (heads + 2 * keyValueHeads) * headDim }

    /// Throws `GPTError.invalidConfig` unless every size is positive and the heads fit the width.
    public func validate() throws {
        switch architecture {
        case .gpt2: try validateGPT2()
        case .llama: try validateLlama()
        }
        if !(layerNormEpsilon > 0) {
            let key = architecture == .gpt2 ? "layer_norm_epsilon" : "rms_norm_eps"
            throw GPTError.invalidConfig("\(key) must be positive, found \(layerNormEpsilon)")
        }
    }

    private func validateGPT2() throws {
        let sizes = [("vocab_size", vocabSize), ("n_positions", contextLength), ("n_embd", embedDim),
                     ("n_layer", layers), ("n_head", heads)]
        for (key, value) in sizes where value <= 0 {
            throw GPTError.invalidConfig("\(key) must be positive, found \(value)")
        }
        if embedDim % heads != 0 {
            throw GPTError.invalidConfig("n_embd (\(embedDim)) must be divisible by n_head (\(heads))")
        }
    }

    private func validateLlama() throws {
        let sizes = [("vocab_size", vocabSize), ("max_position_embeddings", contextLength), ("hidden_size", embedDim),
                     ("num_hidden_layers", layers), ("num_attention_heads", heads),
                     ("num_key_value_heads", keyValueHeads), ("head_dim", headDim), ("intermediate_size", intermediateSize)]
        for (key, value) in sizes where value <= 0 {
            throw GPTError.invalidConfig("\(key) must be positive, found \(value)")
        }
        if heads % keyValueHeads != 0 {
            throw GPTError.invalidConfig("num_key_value_heads (\(keyValueHeads)) must divide num_attention_heads (\(heads))")
        }
        if headDim % 2 != 0 {
            throw GPTError.invalidConfig("head_dim (\(headDim)) must be even for rotary position embedding")
        }
        if !(ropeTheta > 0) { throw GPTError.invalidConfig("rope_theta must be positive, found \(ropeTheta)") }
    }

    /// The model's name for messages: "GPT-2" or "Llama".
    public var familyName: String { architecture == .gpt2 ? "GPT-2" : "Llama" }
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
