import Determinism

/// Deterministic training batches: the same (seed, round, client, step) always gives the same windows.
///
/// A batch is `batch` windows of `sequence + 1` consecutive tokens. Inputs are each window's first
/// `sequence` tokens and targets its last `sequence`, both row-major `[batch, sequence]` Int32.
public enum BatchSampler {
    /// Each step owns a 2^32-value stretch of the (seed, round, client) stream, so any step's batch
    /// can be drawn directly, without replaying the steps before it, and steps never share values
    /// (a batch uses `batch` draws plus rare rejections, far below 2^32).
    static let stepStride: UInt64 = 1 << 32

    public static func trainingBatch(tokens: [TokenID], batch: Int, sequence: Int,
                                     seed: UInt64, round: Int, client: Int, step: Int) -> (inputs: [Int32], targets: [Int32]) {
        let starts = trainingWindowStarts(tokenCount: tokens.count, batch: batch, sequence: sequence,
                                          seed: seed, round: round, client: client, step: step)
        return gather(tokens: tokens, starts: starts, sequence: sequence)
    }

    /// Where each row of `trainingBatch` starts in the text: uniform over every start that
    /// leaves room for a whole window, drawn with replacement.
    public static func trainingWindowStarts(tokenCount: Int, batch: Int, sequence: Int,
                                            seed: UInt64, round: Int, client: Int, step: Int) -> [Int] {
        precondition(batch > 0 && sequence > 0, "batch and sequence must be positive")
        precondition(tokenCount > sequence, "a client needs at least sequence + 1 = \(sequence + 1) tokens, has \(tokenCount)")
        var rng = CounterRNG(seed: seed, purpose: .batches,
                             round: UInt64(truncatingIfNeeded: round), client: UInt64(truncatingIfNeeded: client),
                             counter: UInt64(truncatingIfNeeded: step) &* stepStride)
        let choices = tokenCount - sequence
        return (0..<batch).map { _ in rng.nextInt(below: choices) }
    }

    /// Fixed evaluation batches covering the validation text (up to `maxBatches`).
    ///
    /// No randomness. Every batch has exactly `batch` rows, because evaluators are sized for one
    /// batch shape and average per-batch losses. Windows start at multiples of `sequence`, so
    /// their targets never overlap, and the ones used are spread evenly from the start of the
    /// text to its end, so every category's tail is sampled. A text too short for `batch` such
    /// windows (but holding at least one) gives one batch of evenly spaced overlapping windows,
    /// so a tiny corpus still gets an eval loss; a text shorter than one window gives none.
    public static func validationBatches(tokens: [TokenID], batch: Int, sequence: Int,
                                         maxBatches: Int) -> [(inputs: [Int32], targets: [Int32])] {
        validationWindowStarts(tokenCount: tokens.count, batch: batch, sequence: sequence, maxBatches: maxBatches)
            .map { gather(tokens: tokens, starts: $0, sequence: sequence) }
    }

    /// Where each row of each `validationBatches` batch starts in the text.
    public static func validationWindowStarts(tokenCount: Int, batch: Int, sequence: Int, maxBatches: Int) -> [[Int]] {
        precondition(batch > 0 && sequence > 0, "batch and sequence must be positive")
        guard tokenCount > sequence, maxBatches > 0 else { return [] }
        // Slot j covers tokens [j·T, j·T + T]; the last slot must end inside the text.
        let slots = (tokenCount - 1) / sequence
        let used = min(maxBatches, max(slots / batch, 1)) * batch
        let starts: [Int]
        if used <= slots {
            // slot(i) = ⌊i·slots/used⌋ is strictly increasing because slots ≥ used.
            starts = (0..<used).map { $0 * slots / used * sequence }
        } else {
            let last = tokenCount - sequence - 1
            starts = (0..<used).map { used == 1 ? 0 : $0 * last / (used - 1) }
        }
        return stride(from: 0, to: used, by: batch).map { Array(starts[$0..<($0 + batch)]) }
    }

    /// Copies the windows at `starts` into row-major input and target matrices.
    static func gather(tokens: [TokenID], starts: [Int], sequence: Int) -> (inputs: [Int32], targets: [Int32]) {
        var inputs = [Int32](repeating: 0, count: starts.count * sequence)
        var targets = [Int32](repeating: 0, count: starts.count * sequence)
        tokens.withUnsafeBufferPointer { text in
            inputs.withUnsafeMutableBufferPointer { input in
                targets.withUnsafeMutableBufferPointer { target in
                    for (row, start) in starts.enumerated() {
                        precondition(start >= 0 && start + sequence < text.count, "window outside the text")
                        let base = row * sequence
                        for offset in 0..<sequence {
                            input[base + offset] = text[start + offset]
                            target[base + offset] = text[start + offset + 1]
                        }
                    }
                }
            }
        }
        return (inputs, targets)
    }

    /// The training batch of `data` at `step`: text windows of `sequence` + 1 tokens, or whole rows.
    public static func trainingBatch(_ data: TokenData, batch: Int, sequence: Int, seed: UInt64, round: Int, client: Int,
                                     step: Int) -> (inputs: [Int32], targets: [Int32]) {
        switch data {
        case .text(let tokens):
            return trainingBatch(tokens: tokens, batch: batch, sequence: sequence, seed: seed, round: round, client: client, step: step)
        case .rows(let rows):
            return trainingBatch(rows: rows, batch: batch, seed: seed, round: round, client: client, step: step)
        }
    }

    /// Targets the loss counts over the first `steps` training batches of `data`: every
    /// position of text windows, or the counted targets of the rows drawn.
    public static func countedTargets(_ data: TokenData, steps: Int, batch: Int, sequence: Int, seed: UInt64,
                                      round: Int, client: Int) -> Int {
        switch data {
        case .text:
            return steps * batch * sequence
        case .rows(let rows):
            return (0..<steps).reduce(0) { total, step in
                trainingRowIndices(rowCount: rows.count, batch: batch, seed: seed, round: round, client: client, step: step)
                    .reduce(total) { $0 + rows.counted[$1] }
            }
        }
    }
}
