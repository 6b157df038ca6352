/// GPT-2: learned positions, LayerNorm, GELU MLP, biases, the head tied to the token embedding.
///
/// Layout (Conv1D weights [in, out]): block 0 = `transformer.wte.weight` [V, C], `transformer.wpe.weight`
/// [P, C]; block l+1 = the `GPT2LayerTensor`s of `transformer.h.l.`; block L+1 = `transformer.ln_f.weight/bias`.
/// `parameterCount` is then the Hugging Face count without lm_head.
struct GPT2Family: ModelFamily {
    var name: String { "GPT-2" }
    var modelType: String { "gpt2" }
    var weightLayout: String { "Conv1D weights are [in, out]" }
    var storesLinearWeights: Bool { false }

    func configName(_ field: ConfigField) -> String {
        switch field {
        case .vocabSize: return "vocab_size"
        case .contextLength: return "n_positions"
        case .embedDim: return "n_embd"
        case .layers: return "n_layer"
        case .heads: return "n_head"
        case .normEpsilon: return "layer_norm_epsilon"
        }
    }

    func validate(_ config: GPTConfig) throws {
        let sizes: [(ConfigField, Int)] = [(.vocabSize, config.vocabSize), (.contextLength, config.contextLength),
                                           (.embedDim, config.embedDim), (.layers, config.layers), (.heads, config.heads)]
        for (field, value) in sizes where value <= 0 {
            throw GPTError.invalidConfig("\(configName(field)) must be positive, found \(value)")
        }
        if config.embedDim % config.heads != 0 {
            throw GPTError.invalidConfig("n_embd (\(config.embedDim)) must be divisible by n_head (\(config.heads))")
        }
    }

    func embeddingTensors(_ config: GPTConfig) -> [(String, [Int])] {
        [("transformer.wte.weight", [config.vocabSize, config.embedDim]),
         ("transformer.wpe.weight", [config.contextLength, config.embedDim])]
    }

    func layerTensors(_ config: GPTConfig) -> [(String, [Int])] {
        GPT2LayerTensor.allCases.map { ($0.rawValue, $0.shape(config)) }
    }

    func finalTensors(_ config: GPTConfig) -> [(String, [Int])] {
        [("transformer.ln_f.weight", [config.embedDim]), ("transformer.ln_f.bias", [config.embedDim])]
    }

    func layerPrefix(_ layer: Int) -> String { "transformer.h.\(layer)." }
    func layerBlockName(_ layer: Int) -> String { "h.\(layer)" }
    var finalBlockName: String { "ln_f" }

    var learnsPositions: Bool { true }
    var finalNorm: Normalization { .layerNorm }

    func layerFactory(storage: FloatStorage, dims: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) -> DecoderLayerFactory {
        GPT2LayerFactory(storage: storage, dims: dims, backward: backward, dln: dln)
    }

    var loraTargets: [LoRATarget] { [.attention, .attentionProjection, .mlp, .mlpProjection] }

    func matmulSizes(_ config: GPTConfig) -> [(name: String, input: Int, output: Int, linear: Bool)] {
        let c = config.embedDim
        return [("c_attn", c, 3 * c, false), ("attn.c_proj", c, c, false), ("c_fc", c, 4 * c, false), ("mlp.c_proj", 4 * c, c, false)]
    }

    func attentionNote(_ config: GPTConfig) -> String { "" }
    func mlpNote(_ config: GPTConfig) -> String { "" }

    func config(huggingFace root: [String: JSONValue]) throws -> GPTConfig { try HuggingFaceGPT2.config(root) }

    func configJSON(_ config: GPTConfig, bos: Int?, eos: Int?) -> String {
        var text = HuggingFaceGPT2.configJSON(config)
        if let bos, let eos, let brace = text.firstIndex(of: "{") {
            text.insert(contentsOf: "\n  \"bos_token_id\": \(bos),\n  \"eos_token_id\": \(eos),", at: text.index(after: brace))
        }
        return text
    }

    /// GPT-2's `transformer.` prefix is optional in Hugging Face checkpoints.
    func canonicalTensorName(_ name: String) -> String {
        name.hasPrefix("transformer.") ? name : "transformer." + name
    }

    /// The causal masks some checkpoints carry.
    func isBuffer(_ name: String) -> Bool { name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") }
}

/// The tensors of one GPT-2 layer, in buffer order (Conv1D weights [in, out]).
enum GPT2LayerTensor: String, CaseIterable {
    case ln1Weight = "ln_1.weight", ln1Bias = "ln_1.bias"
    case qkvWeight = "attn.c_attn.weight", qkvBias = "attn.c_attn.bias"
    case attnProjWeight = "attn.c_proj.weight", attnProjBias = "attn.c_proj.bias"
    case ln2Weight = "ln_2.weight", ln2Bias = "ln_2.bias"
    case fcWeight = "mlp.c_fc.weight", fcBias = "mlp.c_fc.bias"
    case fcProjWeight = "mlp.c_proj.weight", fcProjBias = "mlp.c_proj.bias"

    func shape(_ config: GPTConfig) -> [Int] {
        let c = config.embedDim
        switch self {
        case .ln1Weight, .ln1Bias, .ln2Weight, .ln2Bias, .attnProjBias, .fcProjBias: return [c]
        case .qkvWeight: return [c, 3 * c]
        case .qkvBias: return [3 * c]
        case .attnProjWeight: return [c, c]
        case .fcWeight: return [c, 4 * c]
        case .fcBias: return [4 * c]
        case .fcProjWeight: return [4 * c, c]
        }
    }

    /// Index in `allCases`.
    var position: Int { Self.allCases.firstIndex(of: self)! }
}

extension ParameterLayout {
    /// Offset of one of a GPT-2 layer's tensors in the buffer.
    func offset(layer: Int, _ tensor: GPT2LayerTensor) -> Int { offset(layer: layer, tensorAt: tensor.position) }
}
