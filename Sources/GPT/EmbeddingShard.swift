/// One of `count` contiguous ranges of the token embedding's vocabulary rows, trained as a unit of
/// its own (job key `train.embedding_shards`), so that its gradient and AdamW moments are about
/// 1/count of the embedding block's. The rows go in groups of 16 (`rowGroup`; the last group is
/// short when V is not a multiple of 16) so that every shard starts 64-byte aligned for the vector
/// kernels; shard i holds groups ⌊i·G/count⌋ ..< ⌊(i+1)·G/count⌋ of the G groups. GPT-2's
/// position embeddings [P, C], which follow the token embedding in the buffer, go with the last shard.
public struct EmbeddingShard: Hashable, Sendable {
    public let index: Int
    public let count: Int

    /// Rows per group: shard boundaries are multiples of it.
    public static let rowGroup = 16

    public init(index: Int, of count: Int) {
        precondition(count >= 1 && (0..<count).contains(index), "embedding shard \(index) of \(count) does not exist")
        self.index = index
        self.count = count
    }

    /// The most shards a vocabulary of `vocab` rows can be cut into: one group of rows each.
    public static func maximumCount(vocab: Int) -> Int { (vocab + rowGroup - 1) / rowGroup }

    /// The vocabulary rows of the token embedding this shard holds.
    public func rows(vocab: Int) -> Range<Int> {
        let groups = Self.maximumCount(vocab: vocab)
        precondition(count <= groups, "\(count) embedding shards need at least \(count * Self.rowGroup) vocabulary rows, not \(vocab)")
        return min(index * groups / count * Self.rowGroup, vocab) ..< min((index + 1) * groups / count * Self.rowGroup, vocab)
    }

    /// Whether GPT-2's position embeddings go with this shard (the last one).
    public var holdsPositions: Bool { index == count - 1 }

    /// Where the shard lives in the parameter buffer: its token rows, and for the last shard of a
    /// GPT-2 model the position embeddings that follow them.
    public func range(in layout: ParameterLayout) -> Range<Int> {
        let block = layout.blocks[0].range, c = layout.config.embedDim
        let rows = rows(vocab: layout.config.vocabSize)
        return block.lowerBound + rows.lowerBound * c ..< (holdsPositions ? block.upperBound : block.lowerBound + rows.upperBound * c)
    }

    /// The largest shard's floats, computed without building the layout (in Double), for sizing a job.
    public static func largestFloats(_ config: GPTConfig, shards: Int) -> Double {
        let v = config.vocabSize, c = Double(config.embedDim), s = max(1, min(shards, maximumCount(vocab: v)))
        let positions = config.family.learnsPositions ? Double(config.contextLength) * c : 0
        return (0..<s).map { i -> Double in
            let shard = EmbeddingShard(index: i, of: s)
            return Double(shard.rows(vocab: v).count) * c + (shard.holdsPositions ? positions : 0)
        }.max() ?? 0
    }
}
