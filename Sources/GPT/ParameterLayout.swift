/// One named tensor inside the contiguous parameter buffer, in Hugging Face name and shape.
public struct TensorSlot: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let block: Int
}

/// One trainable block: 0 = embeddings (wte, wpe), 1...L = transformer layers, L+1 = final LayerNorm.
public struct BlockSlot: Hashable, Sendable {
    public let index: Int
    /// "embeddings", "h.0", ..., "ln_f"
    public let name: String
    /// Where the block lives in the parameter buffer; blocks are contiguous and in order.
    public let range: Range<Int>
}

/// Where every tensor and block lives in the one contiguous Float buffer.
///
/// Order: block 0 = `transformer.wte.weight` [V, C], `transformer.wpe.weight` [P, C]; block l+1 =
/// `transformer.h.l.` ln_1.weight/bias, attn.c_attn.weight [C, 3C]/bias, attn.c_proj.weight [C, C]/bias,
/// ln_2.weight/bias, mlp.c_fc.weight [C, 4C]/bias, mlp.c_proj.weight [4C, C]/bias; block L+1 =
/// `transformer.ln_f.weight/bias`. No padding: `parameterCount` is the Hugging Face count without lm_head.
public struct ParameterLayout: Sendable {
    public let config: GPTConfig
    public let tensors: [TensorSlot]
    public let blocks: [BlockSlot]
    private let index: [String: Int]

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
        addBlock("embeddings", [("transformer.wte.weight", [config.vocabSize, c]),
                                ("transformer.wpe.weight", [config.contextLength, c])])
        for l in 0..<config.layers {
            addBlock("h.\(l)", LayerTensor.allCases.map { ("transformer.h.\(l).\($0.rawValue)", $0.shape(c)) })
        }
        addBlock("ln_f", [("transformer.ln_f.weight", [c]), ("transformer.ln_f.bias", [c])])
        self.tensors = tensors
        self.blocks = blocks
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// The slot with this Hugging Face name (with the `transformer.` prefix).
    public func tensor(named name: String) -> TensorSlot? {
        index[name].map { tensors[$0] }
    }

    /// Whether a buffer with this layout fits a model of `config` (same tensor shapes; heads and
    /// epsilon do not change the layout).
    public func matches(_ config: GPTConfig) -> Bool {
        let c = self.config
        return c.vocabSize == config.vocabSize && c.contextLength == config.contextLength
            && c.embedDim == config.embedDim && c.layers == config.layers
    }

    /// The block index of transformer layer `layer` (0-based).
    public func block(ofLayer layer: Int) -> Int { layer + 1 }

    /// The transformer layer (0-based) that block `block` is, or nil for the embeddings and the final norm.
    public func layer(ofBlock block: Int) -> Int? { block >= 1 && block <= config.layers ? block - 1 : nil }

    /// Offset of one of layer `layer`'s tensors in the buffer.
    func offset(layer: Int, _ tensor: LayerTensor) -> Int {
        let first = blocks[layer + 1].range.lowerBound
        return first + tensor.offsetInLayer(config.embedDim)
    }
}

/// The tensors of one transformer layer, in buffer order.
enum LayerTensor: String, CaseIterable {
    case ln1Weight = "ln_1.weight", ln1Bias = "ln_1.bias"
    case qkvWeight = "attn.c_attn.weight", qkvBias = "attn.c_attn.bias"
    case attnProjWeight = "attn.c_proj.weight", attnProjBias = "attn.c_proj.bias"
    case ln2Weight = "ln_2.weight", ln2Bias = "ln_2.bias"
    case fcWeight = "mlp.c_fc.weight", fcBias = "mlp.c_fc.bias"
    case fcProjWeight = "mlp.c_proj.weight", fcProjBias = "mlp.c_proj.bias"

    func shape(_ c: Int) -> [Int] {
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

    func offsetInLayer(_ c: Int) -> Int {
        var offset = 0
        for t in LayerTensor.allCases {
            if t == self { return offset }
            offset += t.shape(c).reduce(1, *)
        }
        return offset
    }

    /// Parameters in one layer: 12 C^2 + 13 C.
    static func layerSize(_ c: Int) -> Int { 12 * c * c + 13 * c }
}
