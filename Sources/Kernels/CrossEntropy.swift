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
            crossEntropyRows(logits: logits, targets: targets, rows: range, vocab: vocab,
                             gradientScale: gradientScale, losses: l)
        }
        var total = 0.0, counted = 0
        for r in 0..<rows where targets[r] >= 0 { total += l[r]; counted += 1 }
        return (total, counted)
    }
}

/// Cross-entropy of each row in `rows` into `losses[r]` (ignored rows get 0), with the gradient when asked.
@inline(__always)
func crossEntropyRows(
    logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Range<Int>, vocab: Int,
    gradientScale: Float?, losses: UnsafeMutablePointer<Double>
) {
    let vecEnd = vocab & ~7
    for r in rows {
        let x = logits + r * vocab
        let target = Int(targets[r])
        losses[r] = 0
        if target < 0 {
            if gradientScale != nil { x.update(repeating: 0, count: vocab) }
            continue
        }
        precondition(target < vocab, "target token \(target) is outside the vocabulary of \(vocab)")
        var mv = Float8(repeating: -.infinity), i = 0
        while i < vecEnd { mv = pointwiseMaxFast(mv, load8(x + i)); i += 8 }
        var m = horizontalMax(mv)
        while i < vocab { m = Swift.max(m, x[i]); i += 1 }
        let mb = Float8(repeating: m)
        var acc = Float8()
        i = 0
        while i < vecEnd { acc += fastExp(load8(x + i) - mb); i += 8 }
        var sum = horizontalSum(acc)
        while i < vocab { sum += fastExp(x[i] - m); i += 1 }
        losses[r] = Double(sum).logValue + Double(m) - Double(x[target])
        guard let gradientScale else { continue }
        let k = Float8(repeating: gradientScale / sum)
        i = 0
        while i < vecEnd { store8(fastExp(load8(x + i) - mb) * k, x + i); i += 8 }
        while i < vocab { x[i] = fastExp(x[i] - m) * k[0]; i += 1 }
        x[target] -= gradientScale
    }
}

extension Double {
    /// Natural logarithm without importing Foundation.
    @inline(__always)
    var logValue: Double { _naturalLog(self) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _naturalLog(_ x: Double) -> Double { Glibc.log(x) }
#else
import Darwin
@inline(__always) func _naturalLog(_ x: Double) -> Double { Darwin.log(x) }
#endif
