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
