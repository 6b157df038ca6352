import Kernels

extension GPTEvaluator {
    /// Every target's cross-entropy (0 where the target is negative), with the mean over the
    /// counted targets exactly as `meanLoss` accumulates it (same bits): one forward pass for
    /// a loss per record or per task besides the overall one.
    public func targetLosses(parameters: ParameterBuffer, inputs: [Int32], targets: [Int32]) -> (mean: Double, losses: [Double]) {
        ForwardPass.checkTokens(targets, dims, allowIgnored: true, what: "targets")
        forward(parameters, inputs)
        let d = dims
        var losses = [Double](repeating: 0, count: d.rows)
        var total = 0.0, counted = 0
        targets.withUnsafeBufferPointer { tp in
            losses.withUnsafeMutableBufferPointer { lp in
                var r0 = 0
                while r0 < d.rows {
                    let rows = min(d.headChunkRows, d.rows - r0)
                    _ = headChunk(parameters, r0, rows, targets: nil)
                    crossEntropyRowLosses(logits: logitsChunk, targets: tp.baseAddress! + r0, rows: rows, vocab: d.vocab,
                                          losses: lp.baseAddress! + r0)
                    var chunkSum = 0.0
                    for r in r0..<(r0 + rows) where tp[r] >= 0 { chunkSum += lp[r]; counted += 1 }
                    total += chunkSum
                    r0 += rows
                }
            }
        }
        return (counted > 0 ? total / Double(counted) : 0, losses)
    }
}
