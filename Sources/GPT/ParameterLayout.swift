/// One named tensor inside the contiguous parameter buffer, in Hugging Face name and shape.
public struct TensorSlot: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let block: Int
}

/// One trainable block: 0 = embeddings, 1...L = transformer layers, L+1 = final norm (and Llama's
/// untied lm_head).
public struct BlockSlot: Hashable, Sendable {
    public let index: Int
    /// GPT-2: "embeddings", "h.0", ..., "ln_f"; Llama: "embeddings", "layers.0", ..., "norm".
    public let name: String
    /// Where the block lives in the parameter buffer; blocks are contiguous and in order.
    public let range: Range<Int>
}

/// Where every tensor and block lives in the one contiguous Float buffer, in Hugging Face names
/// and shapes, without padding.
///
/// GPT-2 (Conv1D weights [in, out]): block 0 = `transformer.wte.weight` [V, C], `transformer.wpe.weight`
/// [P, C]; block l+1 = the `GPT2LayerTensor`s of `transformer.h.l.`; block L+1 = `transformer.ln_f.weight/bias`.
/// `parameterCount` is then the Hugging Face count without lm_head.
///
/// Llama (nn.Linear weights [out, in]): block 0 = `model.embed_tokens.weight` [V, C]; block l+1 = the
/// `LlamaLayerTensor`s of `model.layers.l.`; block L+1 = `model.norm.weight` [C] and, when untied,
/// `lm_head.weight` [V, C]. q, k and v (and gate and up) are adjacent, so one matmul computes them.
public struct ParameterLayout: Sendable {
    public let config: GPTConfig
    public let tensors: [TensorSlot]
    public let blocks: [BlockSlot]
    private let index: [String: Int]
    /// Offset of each layer tensor inside its layer, in `layerTensorNames` order.
    private let offsetsInLayer: [Int]

    public var parameterCount: Int { blocks.last?.range.upperBound ?? 0 }
    public var blockCount: Int { blocks.count }

    public init(config: GPTConfig) {
        self.config = config
        let c = config.embedDim
        var tensors: [TensorSlot] = []
        var blocks: [BlockSlot] = []
        var offset = 0
        func addBlock(_ name: String, _ entries: [(String, [Int])]) {
            let start = offset, blockIndex = blocks.count
            for (tensorName, shape) in entries {
                let count = shape.reduce(1, *)
                tensors.append(TensorSlot(name: tensorName, shape: shape, offset: offset, count: count, block: blockIndex))
                offset += count
            }
            blocks.append(BlockSlot(index: blockIndex, name: name, range: start..<offset))
        }
        let layerEntries = Self.layerEntries(config)
        var inLayer = 0
        offsetsInLayer = layerEntries.map { entry in
            defer { inLayer += entry.1.reduce(1, *) }
            return inLayer
        }
        switch config.architecture {
        case .gpt2:
            addBlock("embeddings", [("transformer.wte.weight", [config.vocabSize, c]),
                                    ("transformer.wpe.weight", [config.contextLength, c])])
            for l in 0..<config.layers {
                addBlock("h.\(l)", layerEntries.map { ("transformer.h.\(l).\($0.0)", $0.1) })
            }
            addBlock("ln_f", [("transformer.ln_f.weight", [c]), ("transformer.ln_f.bias", [c])])
        case .llama:
            addBlock("embeddings", [("model.embed_tokens.weight", [config.vocabSize, c])])
            for l in 0..<config.layers {
                addBlock("layers.\(l)", layerEntries.map { ("model.layers.\(l).\($0.0)", $0.1) })
            }
            addBlock("norm", [("model.norm.weight", [c])] + (config.tiedHead ? [] : [("lm_head.weight", [config.vocabSize, c])]))
        }
        self.tensors = tensors
        self.blocks = blocks
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// Floats of the embeddings block, of one layer block and of the final block, computed without
    /// building the layout (in Double, so that absurd shapes can be sized before they are refused).
    public static func blockSizes(_ config: GPTConfig) -> (embeddings: Double, layer: Double, final: Double) {
        let c = Double(config.embedDim), v = Double(config.vocabSize)
        let layer = layerEntries(config).reduce(0.0) { $0 + $1.1.reduce(1.0) { $0 * Double($1) } }
        switch config.architecture {
        case .gpt2: return ((v + Double(config.contextLength)) * c, layer, 2 * c)
        case .llama: return (v * c, layer, c + (config.tiedHead ? 0 : v * c))
        }
    }

    /// The tensors of one layer (name after the layer prefix, shape), in buffer order.
    static func layerEntries(_ config: GPTConfig) -> [(String, [Int])] {
        switch config.architecture {
        case .gpt2: return GPT2LayerTensor.allCases.map { ($0.rawValue, $0.shape(config)) }
        case .llama: return LlamaLayerTensor.allCases.map { ($0.rawValue, $0.shape(config)) }
        }
    }

    /// The slot with this Hugging Face name (GPT-2 names with the `transformer.` prefix).
    public func tensor(named name: String) -> TensorSlot? {
        index[name].map { tensors[$0] }
    }

    /// Whether a buffer with this layout fits a model of `config` (same architecture and tensor
    /// shapes; epsilon and RoPE settings do not change the layout).
    public func matches(_ config: GPTConfig) -> Bool {
        let c = self.config
        return c.architecture == config.architecture && c.vocabSize == config.vocabSize
            && (c.architecture == .llama || c.contextLength == config.contextLength)
            && c.embedDim == config.embedDim && c.layers == config.layers
            && c.attentionWidth == config.attentionWidth && c.qkvWidth == config.qkvWidth
            && c.intermediateSize == config.intermediateSize && c.tiedHead == config.tiedHead
    }

    /// The block index of transformer layer `layer` (0-based).
    public func block(ofLayer layer: Int) -> Int { layer + 1 }

    /// The transformer layer (0-based) that block `block` is, or nil for the embeddings and the final norm.
    public func layer(ofBlock block: Int) -> Int? { block >= 1 && block <= config.layers ? block - 1 : nil }

    /// Offset of one of a GPT-2 layer's tensors in the buffer.
    func offset(layer: Int, _ tensor: GPT2LayerTensor) -> Int {
        blocks[layer + 1].range.lowerBound + offsetsInLayer[tensor.position]
    }

    /// Offset of one of a Llama layer's tensors in the buffer.
    func offset(layer: Int, _ tensor: LlamaLayerTensor) -> Int {
        blocks[layer + 1].range.lowerBound + offsetsInLayer[tensor.position]
    }

    /// Offset of the output head's weight [V, C]: lm_head when untied, else the token embedding.
    var headOffset: Int {
        config.tiedHead ? blocks[0].range.lowerBound : blocks[config.finalNormBlock].range.lowerBound + config.embedDim
    }

    /// The block holding the output head's weight.
    var headBlock: Int { config.tiedHead ? 0 : config.finalNormBlock }
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
