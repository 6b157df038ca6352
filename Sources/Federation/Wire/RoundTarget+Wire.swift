extension RoundTarget {
    /// The target in the 4 bytes the round and upload headers give it: the block's index, or a
    /// negative code for the targets that are not one block (embedding shard s is -3 - s).
    var wireValue: Int32 {
        switch self {
        case let .block(block): return Int32(block)
        case .allBlocks: return -1
        case .adapters: return -2
        case let .shard(shard): return -3 - Int32(shard)
        }
    }

    init(wireValue: Int32) throws {
        switch wireValue {
        case 0...: self = .block(Int(wireValue))
        case -1: self = .allBlocks
        case -2: self = .adapters
        case ...(-3): self = .shard(Int(-3 - wireValue))
        default: throw WireError.badValue("round target \(wireValue)")
        }
    }
}
