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
/// and shapes, without padding; the family says which tensors (`GPT2Family`, `LlamaFamily`).
public struct ParameterLayout: Sendable {
    public let config: GPTConfig
    public let tensors: [TensorSlot]
    public let blocks: [BlockSlot]
    private let index: [String: Int]
    /// Offset of each layer tensor inside its layer, in the family's `layerTensors` order.
    private let offsetsInLayer: [Int]

    public var parameterCount: Int { blocks.last?.range.upperBound ?? 0 }
    public var blockCount: Int { config.blockCount }

    public init(config: GPTConfig) {
        self.config = config
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
        let family = config.family
        var inLayer = 0
        offsetsInLayer = family.layerTensors(config).map { entry in
            defer { inLayer += entry.1.reduce(1, *) }
            return inLayer
        }
        addBlock("embeddings", family.embeddingTensors(config))
        let layerTensors = family.layerTensors(config)
        for l in 0..<config.layers {
            addBlock(family.layerBlockName(l), layerTensors.map { (family.layerPrefix(l) + $0.0, $0.1) })
        }
        addBlock(family.finalBlockName, family.finalTensors(config))
        precondition(blocks.count == config.blockCount, "the layout has \(blocks.count) blocks, the config \(config.blockCount)")
        self.tensors = tensors
        self.blocks = blocks
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// Floats of the embeddings block, of one layer block and of the final block, computed without
    /// building the layout (in Double, so that absurd shapes can be sized before they are refused).
    public static func blockSizes(_ config: GPTConfig) -> (embeddings: Double, layer: Double, final: Double) {
        func floats(_ entries: [(String, [Int])]) -> Double {
            entries.reduce(0.0) { $0 + $1.1.reduce(1.0) { $0 * Double($1) } }
        }
        let family = config.family
        return (floats(family.embeddingTensors(config)), floats(family.layerTensors(config)), floats(family.finalTensors(config)))
    }

    /// The slot with this Hugging Face name (GPT-2 names with the `transformer.` prefix).
    public func tensor(named name: String) -> TensorSlot? {
        index[name].map { tensors[$0] }
    }

    /// Whether a buffer with this layout fits a model of `config`: the same architecture and tensor
    /// shapes (epsilon and RoPE settings do not change the layout).
    public func matches(_ config: GPTConfig) -> Bool {
        let c = self.config, family = c.family
        func shapes(_ entries: [(String, [Int])]) -> [[Int]] { entries.map(\.1) }
        return c.architecture == config.architecture && c.layers == config.layers
            && shapes(family.embeddingTensors(c)) == shapes(family.embeddingTensors(config))
            && shapes(family.layerTensors(c)) == shapes(family.layerTensors(config))
            && shapes(family.finalTensors(c)) == shapes(family.finalTensors(config))
    }

    /// The block index of transformer layer `layer` (0-based).
    public func block(ofLayer layer: Int) -> Int { layer + 1 }

    /// The transformer layer (0-based) that block `block` is, or nil for the embeddings and the final norm.
    public func layer(ofBlock block: Int) -> Int? { block >= 1 && block <= config.layers ? block - 1 : nil }

    /// Offset in the buffer of the tensor at `index` in the family's layer tensors, in layer `layer`.
    func offset(layer: Int, tensorAt index: Int) -> Int {
        blocks[layer + 1].range.lowerBound + offsetsInLayer[index]
    }

    /// Offset of the output head's weight [V, C]: lm_head when untied, else the token embedding.
    var headOffset: Int {
        config.tiedHead ? blocks[0].range.lowerBound : tensor(named: "lm_head.weight")!.offset
    }

    /// The block holding the output head's weight.
    var headBlock: Int { config.tiedHead ? 0 : config.finalNormBlock }
}
