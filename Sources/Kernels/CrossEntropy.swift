import CKernels

// Softmax + cross-entropy over the vocabulary, fused with its backward pass.

/// Sum over rows of `-log softmax(logits[r])[targets[r]]`, skipping rows whose target is negative
/// (ignored positions). When `gradientScale` is given, each counted row of `logits` is overwritten by
/// `gradientScale * (softmax - onehot)` and each ignored row by zeros: the loss gradient when the loss
/// is the mean with `gradientScale = 1 / counted rows`. Returns (loss sum in Double, counted rows).
/// Rows are split across `BLAS.threads` workers; the per-row losses are summed in row order.
public func crossEntropy(
    logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
    gradientScale: Float?
) -> (sum: Double, count: Int) {
    withUnsafeTemporaryAllocation(of: Double.self, capacity: rows) { losses in
        let l = losses.baseAddress!
        Parallel.forRanges(rows, minimumPerWorker: max(1, 32_768 / vocab)) { _, range in
            for r in range { precondition(targets[r] < vocab, "target token \(targets[r]) is outside the vocabulary of \(vocab)") }
            fk_cross_entropy(logits, targets, range.lowerBound, range.upperBound, vocab,
                             gradientScale == nil ? 0 : 1, gradientScale ?? 0, l)
        }
        var total = 0.0, counted = 0
        for r in 0..<rows where targets[r] >= 0 { total += l[r]; counted += 1 }
        return (total, counted)
    }
}

/// Each row's `-log softmax(logits[r])[targets[r]]` into `losses` (0 where the target is
/// negative), with the same arithmetic as `crossEntropy`; `logits` is left unchanged.
public func crossEntropyRowLosses(logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                                  losses: UnsafeMutablePointer<Double>) {
    Parallel.forRanges(rows, minimumPerWorker: max(1, 32_768 / vocab)) { _, range in
        for r in range { precondition(targets[r] < vocab, "target token \(targets[r]) is outside the vocabulary of \(vocab)") }
        fk_cross_entropy(logits, targets, range.lowerBound, range.upperBound, vocab, 0, 0, losses)
    }
}
