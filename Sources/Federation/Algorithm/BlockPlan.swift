/// Which block each round trains: a block set visited once per cycle in a block order.
///
/// The generalisation of `CycleSchedule`'s block arithmetic. It holds no state: the block of
/// any round follows from the round, the seed and the options, so a resumed run needs nothing
/// saved beyond the round (the checkpoint's `/state/block_order` is `order(ofCycle:)`).
public struct BlockPlan: Sendable, Equatable {
    /// The blocks one cycle visits, ascending.
    public let blocks: [Int]
    public let order: BlockOrder
    public let seed: UInt64

    public init(set: BlockSet, order: BlockOrder, layers: Int, seed: UInt64) {
        self.blocks = set.blocks(layers: layers)
        self.order = order
        self.seed = seed
        precondition(!blocks.isEmpty, "the block set \(set.rawValue) of a \(layers)-layer model is empty")
    }

    /// Rounds per cycle.
    public var cycleLength: Int { blocks.count }

    /// The 1-based cycle that 1-based `round` belongs to.
    public func cycle(ofRound round: Int) -> Int { (round - 1) / cycleLength + 1 }

    /// Whether `round` is the last of its cycle.
    public func endsCycle(_ round: Int) -> Bool { round % cycleLength == 0 }

    /// The blocks of 1-based cycle `cycle`, in visiting order.
    public func order(ofCycle cycle: Int) -> [Int] { order.order(cycle: cycle, seed: seed, blocks: blocks) }

    /// The block 1-based `round` trains.
    public func block(ofRound round: Int) -> Int {
        order(ofCycle: cycle(ofRound: round))[(round - 1) % cycleLength]
    }
}
