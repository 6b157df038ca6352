/// What a round trains: one block, one shard of the embeddings, every block, or the LoRA adapters.
/// The algorithm decides which (`Algorithm.target(visiting:)`); everything downstream reads it
/// from the round's plan.
public enum RoundTarget: Hashable, Sendable, CustomStringConvertible {
    /// One block of the model (FedCyBGD, BAdam): 0 = embeddings, 1...L = layers, L + 1 = final norm.
    case block(Int)
    /// One shard of vocabulary rows of the embeddings, block 0 (`train.embedding_shards`; `EmbeddingShard`).
    case shard(Int)
    /// Every parameter of the model (FedAvg, centralized).
    case allBlocks
    /// The LoRA adapters, with the base model frozen (FedLoRA).
    case adapters

    /// The block the round trains, when it trains one (all of it, or for `.shard` some of its rows).
    public var block: Int? {
        switch self {
        case let .block(block): return block
        case .shard: return 0
        case .allBlocks, .adapters: return nil
        }
    }

    /// The embedding shard the round trains, when it trains one.
    public var shard: Int? {
        if case let .shard(shard) = self { return shard }
        return nil
    }

    public var description: String {
        switch self {
        case let .block(block): return "block \(block)"
        case let .shard(shard): return "embedding shard \(shard)"
        case .allBlocks: return "every block"
        case .adapters: return "the adapters"
        }
    }
}
