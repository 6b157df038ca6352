import Kernels

/// Llama (Hugging Face `LlamaForCausalLM`): RoPE, RMSNorm, SiLU-gated MLP, grouped-query attention,
/// no biases, the head tied or not.
///
/// Layout (nn.Linear weights [out, in]): block 0 = `model.embed_tokens.weight` [V, C]; block l+1 = the
/// `LlamaLayerTensor`s of `model.layers.l.`; block L+1 = `model.norm.weight` [C] and, when untied,
/// `lm_head.weight` [V, C]. q, k and v (and gate and up) are adjacent, so one matmul computes them.
struct LlamaFamily: ModelFamily {
    var name: String { "Llama" }
    var modelType: String { "llama" }
    var weightLayout: String { "nn.Linear weights are [out, in]" }
    var storesLinearWeights: Bool { true }

    func configName(_ field: ConfigField) -> String {
        switch field {
        case .vocabSize: return "vocab_size"
        case .contextLength: return "max_position_embeddings"
        case .embedDim: return "hidden_size"
        case .layers: return "num_hidden_layers"
        case .heads: return "num_attention_heads"
        case .normEpsilon: return "rms_norm_eps"
        }
    }

    func validate(_ c: GPTConfig) throws {
        let sizes = [(configName(.vocabSize), c.vocabSize), (configName(.contextLength), c.contextLength),
                     (configName(.embedDim), c.embedDim), (configName(.layers), c.layers), (configName(.heads), c.heads),
                     ("num_key_value_heads", c.keyValueHeads), ("head_dim", c.headDim), ("intermediate_size", c.intermediateSize)]
        for (key, value) in sizes where value <= 0 {
            throw GPTError.invalidConfig("\(key) must be positive, found \(value)")
        }
        if c.heads % c.keyValueHeads != 0 {
            throw GPTError.invalidConfig("num_key_value_heads (\(c.keyValueHeads)) must divide num_attention_heads (\(c.heads))")
        }
        if c.headDim % 2 != 0 {
            throw GPTError.invalidConfig("head_dim (\(c.headDim)) must be even for rotary position embedding")
        }
        if !(c.ropeTheta > 0) { throw GPTError.invalidConfig("rope_theta must be positive, found \(c.ropeTheta)") }
    }

    func embeddingTensors(_ config: GPTConfig) -> [(String, [Int])] {
        [("model.embed_tokens.weight", [config.vocabSize, config.embedDim])]
    }

    func layerTensors(_ config: GPTConfig) -> [(String, [Int])] {
        LlamaLayerTensor.allCases.map { ($0.rawValue, $0.shape(config)) }
    }

    func finalTensors(_ config: GPTConfig) -> [(String, [Int])] {
        [("model.norm.weight", [config.embedDim])] + (config.tiedHead ? [] : [("lm_head.weight", [config.vocabSize, config.embedDim])])
    }

    func layerPrefix(_ layer: Int) -> String { "model.layers.\(layer)." }
    func layerBlockName(_ layer: Int) -> String { "layers.\(layer)" }
    var finalBlockName: String { "norm" }

    var learnsPositions: Bool { false }
    var finalNorm: Normalization { .rmsNorm }

    func layerFactory(storage: FloatStorage, dims: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) -> DecoderLayerFactory {
        LlamaLayerFactory(storage: storage, dims: dims, backward: backward, dln: dln)
    }

    var loraTargets: [LoRATarget] { [.query, .key, .value, .output, .gate, .up, .down] }

    func matmulSizes(_ config: GPTConfig) -> [(name: String, input: Int, output: Int, linear: Bool)] {
        let c = config.embedDim
        return [("q_proj+k_proj+v_proj", c, config.qkvWidth, true), ("o_proj", config.attentionWidth, c, true),
                ("gate_proj+up_proj", c, 2 * config.intermediateSize, true), ("down_proj", config.intermediateSize, c, true)]
    }

    func attentionNote(_ c: GPTConfig) -> String { " over \(c.keyValueHeads) key/value heads" }
    func mlpNote(_ c: GPTConfig) -> String { ", intermediate \(c.intermediateSize), \(c.tiedHead ? "tied" : "untied") head" }

    func config(huggingFace root: [String: JSONValue]) throws -> GPTConfig { try HuggingFaceLlama.config(root) }

    func configJSON(_ config: GPTConfig, bos: Int?, eos: Int?) -> String {
        HuggingFaceLlama.configJSON(config, bos: bos, eos: eos)
    }

    func canonicalTensorName(_ name: String) -> String { name }

    /// The rotary frequencies some checkpoints carry.
    func isBuffer(_ name: String) -> Bool { name.hasSuffix(".rotary_emb.inv_freq") }
}

extension GPTConfig {
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
}

/// The tensors of one Llama layer, in buffer order (nn.Linear weights [out, in]).
enum LlamaLayerTensor: String, CaseIterable {
    case inputNorm = "input_layernorm.weight"
    case query = "self_attn.q_proj.weight", key = "self_attn.k_proj.weight", value = "self_attn.v_proj.weight"
    case output = "self_attn.o_proj.weight"
    case postAttentionNorm = "post_attention_layernorm.weight"
    case gate = "mlp.gate_proj.weight", up = "mlp.up_proj.weight", down = "mlp.down_proj.weight"

    func shape(_ config: GPTConfig) -> [Int] {
        let c = config.embedDim, kv = config.keyValueHeads * config.headDim
        switch self {
        case .inputNorm, .postAttentionNorm: return [c]
        case .query: return [config.attentionWidth, c]
        case .key, .value: return [kv, c]
        case .output: return [c, config.attentionWidth]
        case .gate, .up: return [config.intermediateSize, c]
        case .down: return [c, config.intermediateSize]
        }
    }

    /// Index in `allCases`.
    var position: Int { Self.allCases.firstIndex(of: self)! }
}

extension ParameterLayout {
    /// Offset of one of a Llama layer's tensors in the buffer.
    func offset(layer: Int, _ tensor: LlamaLayerTensor) -> Int { offset(layer: layer, tensorAt: tensor.position) }
}
