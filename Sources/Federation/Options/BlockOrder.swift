import Determinism

/// The order in which a cycle visits its blocks: job key `train.block_order`.
public enum BlockOrder: String, CaseIterable, Sendable {
    /// Embeddings first, then each layer bottom-up, then the final norm (the paper's default).
    case ascending
    /// The reverse: final norm first, down to the embeddings.
    case descending
    /// A fresh uniform permutation each cycle, drawn from the seed and the cycle number alone,
    /// so any cycle's order can be recomputed (on resume, or by an analysis script) without
    /// replaying the ones before it.
    case random

    /// The block-order stream is sub-stream 0 of the schedule purpose; client selection uses 1.
    static let stream: UInt64 = 0

    /// The order of `blocks` in 1-based cycle `cycle`.
    public func order(cycle: Int, seed: UInt64, blocks: [Int]) -> [Int] {
        switch self {
        case .ascending: return blocks.sorted()
        case .descending: return blocks.sorted(by: >)
        case .random:
            var rng = CounterRNG(seed: seed, purpose: .schedule, round: UInt64(truncatingIfNeeded: cycle), client: Self.stream)
            var order = blocks.sorted()
            order.shuffleFisherYates(using: &rng)
            return order
        }
    }

    /// Parses the job value of `key` (default key `train.block_order`).
    public init(parsing text: String, key: String = "train.block_order") throws {
        self = try Self.parse(text, key: key)
    }
}

/// Which blocks a cycle visits: job key `train.blocks`.
public enum BlockSet: String, CaseIterable, Sendable {
    /// The embeddings (block 0), every transformer layer (1...L) and the final norm (L + 1).
    case all
    /// Transformer layers only (1...L); the embeddings and the final norm stay as initialised or loaded.
    case layers

    /// The block indices of a model with `layers` transformer layers, ascending.
    public func blocks(layers: Int) -> [Int] {
        precondition(layers >= 0, "a model has a non-negative number of layers")
        switch self {
        case .all: return Array(0...(layers + 1))
        case .layers: return Array(1..<(layers + 1))
        }
    }

    public init(parsing text: String, key: String = "train.blocks") throws {
        self = try Self.parse(text, key: key)
    }
}

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

extension Array {
    /// Fisher–Yates from the last position down, each swap partner drawn by `nextInt(below:)`,
    /// so the permutation is fixed by the stream (the standard library's `shuffle` makes no such promise).
    mutating func shuffleFisherYates(using rng: inout CounterRNG) {
        guard count > 1 else { return }
        for i in stride(from: count - 1, to: 0, by: -1) {
            swapAt(i, rng.nextInt(below: i + 1))
        }
    }
}
