import CKernels

// Causal multi-head self-attention over a packed qkv tensor [B, T, 3C] (q, k, v side by side,
// head h in columns h*hs..<(h+1)*hs of each), fused per (batch, head) in CKernels.

/// `out[B, T, C]` = softmax(Q K^T / sqrt(hs), causal) V for every head.
///
/// With `keepMaps`, what the backward pass needs goes to `att`: the log-sum-exp of each softmax row,
/// `att[(b * heads + h) * seq + t]` (B·heads·T floats; the caller's B·heads·T² buffer is more than
/// enough). Without, `att` is not used (`scratchMaps` is kept for the callers' buffer accounting).
/// (batch, head) pairs are split across `BLAS.threads` workers; each runs the fused kernel of CKernels
/// (scores, softmax and values per tile of query rows, keys only up to the diagonal).
public func attentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, keepMaps: Bool, scratchMaps: Int = 1,
    qkv: UnsafePointer<Float>, batch: Int, seq: Int, channels: Int, heads: Int
) {
    PhaseTimes.time(.attention) {
        Parallel.forRanges(batch * heads) { _, range in
            fk_attention_forward(out, keepMaps ? att : nil, qkv, seq, channels, heads,
                                 range.lowerBound, range.upperBound)
        }
    }
}

/// Backward of `attentionForward` with `keepMaps` (`att` holds its log-sum-exps): the probabilities
/// are recomputed from Q, K and those. Writes (overwrites) `dqkv[B, T, 3C]`; `scratch` holds
/// `scratchMaps` [T, T] maps, one per worker thread (at most `scratchMaps` threads are used).
public func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
    att: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchMaps: Int = 1,
    batch: Int, seq: Int, channels: Int, heads: Int
) {
    PhaseTimes.time(.attention) {
        Parallel.forRanges(batch * heads, maxWorkers: scratchMaps) { worker, range in
            fk_attention_backward(dqkv, dout, qkv, att, scratch + worker * seq * seq, seq, channels, heads,
                                  range.lowerBound, range.upperBound)
        }
    }
}

/// Softmax of `x[0..<n]` in place, with `x[n..<length]` set to zero (one causal attention row).
@inline(__always)
public func softmaxRow(_ x: UnsafeMutablePointer<Float>, count n: Int, length: Int) {
    fk_softmax_row(x, n, length)
}
