import GPT

/// How a run cuts the model into the units it holds, sends and trains: the model's blocks in
/// buffer order, with the embeddings (block 0) cut into `embeddingShards` units of vocabulary rows
/// (`EmbeddingShard`), and for fedlora one more unit with every LoRA adapter. Units are numbered
/// in buffer order: the shards 0..<S, then blocks 1...L + 1 as units S...L + S, then the adapters.
/// With S = 1 a unit's number is its block's.
public struct ModelUnits: Sendable, Equatable {
    public let embeddingShards: Int
    /// The model's blocks: L + 2.
    public let blockCount: Int
    public let hasAdapters: Bool
    /// Where each unit of the model (not the adapters) lives in the parameter buffer.
    public let ranges: [Range<Int>]

    public init(layout: ParameterLayout, embeddingShards: Int = 1, adapters: Bool = false) {
        precondition(embeddingShards >= 1, "a model has at least one embedding unit")
        self.embeddingShards = embeddingShards
        self.blockCount = layout.blockCount
        self.hasAdapters = adapters
        let shards = embeddingShards == 1 ? [layout.blocks[0].range]
            : (0..<embeddingShards).map { EmbeddingShard(index: $0, of: embeddingShards).range(in: layout) }
        ranges = shards + layout.blocks.dropFirst().map(\.range)
    }

    /// The units of a run of `settings`.
    public init(settings: FederationSettings) {
        self.init(layout: ParameterLayout(config: settings.model), embeddingShards: settings.embeddingShards,
                  adapters: settings.algorithm == .fedlora)
    }

    /// Units of the model's parameters (without the adapters).
    public var parameterUnitCount: Int { ranges.count }
    /// Every unit, the adapters included.
    public var count: Int { ranges.count + (hasAdapters ? 1 : 0) }
    /// The unit holding the adapters, when there is one.
    public var adapterUnit: Int? { hasAdapters ? ranges.count : nil }

    /// The units that hold block `block`: the shards for block 0, else one unit.
    public func units(ofBlock block: Int) -> Range<Int> {
        let first = block == 0 ? 0 : block + embeddingShards - 1
        return first..<(first + Self.unitCount(ofBlock: block, embeddingShards: embeddingShards))
    }

    /// How many units hold block `block` when the embeddings are cut into `embeddingShards`.
    public static func unitCount(ofBlock block: Int, embeddingShards: Int) -> Int { block == 0 ? embeddingShards : 1 }

    /// The block a unit of the model belongs to.
    public func block(ofUnit unit: Int) -> Int { unit < embeddingShards ? 0 : unit - embeddingShards + 1 }

    /// The embedding shard a unit is, when the embeddings are sharded.
    public func shard(ofUnit unit: Int) -> EmbeddingShard? {
        embeddingShards > 1 && unit < embeddingShards ? EmbeddingShard(index: unit, of: embeddingShards) : nil
    }

    /// What a round visiting `unit` trains, for the one-block algorithms: its block, or its shard.
    public func target(ofUnit unit: Int) -> RoundTarget {
        shard(ofUnit: unit).map { .shard($0.index) } ?? .block(block(ofUnit: unit))
    }

    /// The units `target` trains: ascending and contiguous.
    public func units(of target: RoundTarget) -> [Int] {
        switch target {
        case let .block(block): return Array(units(ofBlock: block))
        case let .shard(shard): return [shard]
        case .allBlocks: return Array(0..<parameterUnitCount)
        case .adapters: return adapterUnit.map { [$0] } ?? []
        }
    }

    /// How unit `unit` of the model splits into tensors and rows, for the codecs: a block's tensors,
    /// or a shard's token rows (and GPT-2's position embeddings for the last shard).
    public func rows(_ unit: Int, of layout: ParameterLayout) -> RowLayout {
        guard let shard = shard(ofUnit: unit) else { return RowLayout(block: block(ofUnit: unit), of: layout) }
        let c = layout.config.embedDim, tokens = shard.rows(vocab: layout.config.vocabSize).count * c
        let rest = ranges[unit].count - tokens
        return RowLayout(segments: [(tokens, c)] + (rest > 0 ? [(rest, c)] : []))
    }
}
