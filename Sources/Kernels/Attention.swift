import CKernels

// Causal multi-head self-attention over a packed qkv tensor [B, T, 3C] (q, k, v side by side,
// head h in columns h*hs..<(h+1)*hs of each), with sgemm per (batch, head) for QK^T and PV.

/// Rows of the causal attention handled per sgemm: query rows r0..<r1 only meet keys 0..<r1, so
/// splitting the rows into chunks skips most of the zero upper triangle (3/4 of the work at 2 chunks).
@inline(__always)
func attentionChunk(_ seq: Int) -> Int { seq <= 64 ? seq : max(64, (seq + 7) / 8) }

/// `out[B, T, C]` = softmax(Q K^T / sqrt(hs), causal) V for every head.
///
/// With `keepMaps`, the attention probabilities of head h of batch row b go to
/// `att + (b * heads + h) * seq * seq` as [T, T] row-major (zero above the diagonal), for the backward
/// pass. Without, `att` is scratch of `scratchMaps` [T, T] maps, one per worker thread (at most
/// `scratchMaps` threads are used). (batch, head) pairs are split across `BLAS.threads` workers,
/// each calling single-threaded sgemm.
public func attentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, keepMaps: Bool, scratchMaps: Int = 1,
    qkv: UnsafePointer<Float>, batch: Int, seq: Int, channels: Int, heads: Int
) {
    let hs = channels / heads, c3 = 3 * channels
    let scale = 1 / Float(hs).squareRoot()
    let chunk = attentionChunk(seq)
    Parallel.forRangesCallingBLAS(batch * heads, maxWorkers: keepMaps ? .max : scratchMaps) { worker, range in
        for bh in range {
            let b = bh / heads, h = bh % heads
            let q = qkv + b * seq * c3 + h * hs, k = q + channels, v = q + 2 * channels
            let a = att + (keepMaps ? bh : worker) * seq * seq
            let y = out + b * seq * channels + h * hs
            var r0 = 0
            while r0 < seq {
                let r1 = min(seq, r0 + chunk)
                sgemm(transA: false, transB: true, m: r1 - r0, n: r1, k: hs, alpha: scale,
                      a: q + r0 * c3, lda: c3, b: k, ldb: c3, beta: 0, c: a + r0 * seq, ldc: seq)
                for t in r0..<r1 {
                    fk_softmax_row(a + t * seq, t + 1, seq)
                }
                sgemm(transA: false, transB: false, m: r1 - r0, n: hs, k: r1,
                      a: a + r0 * seq, lda: seq, b: v, ldb: c3, beta: 0, c: y + r0 * channels, ldc: channels)
                r0 = r1
            }
        }
    }
}

/// Backward of `attentionForward` with all probabilities kept (`att` is [B, heads, T, T]).
/// Writes (overwrites) `dqkv[B, T, 3C]`; `scratch` holds `scratchMaps` [T, T] maps, one per worker
/// thread (at most `scratchMaps` threads are used).
public func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
    att: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchMaps: Int = 1,
    batch: Int, seq: Int, channels: Int, heads: Int
) {
    let hs = channels / heads, c3 = 3 * channels
    let scale = 1 / Float(hs).squareRoot()
    let chunk = attentionChunk(seq)
    Parallel.forRangesCallingBLAS(batch * heads, maxWorkers: scratchMaps) { worker, range in
        let ds = scratch + worker * seq * seq
        for bh in range {
            let b = bh / heads, h = bh % heads
            let off = b * seq * c3 + h * hs
            let q = qkv + off, k = q + channels, v = q + 2 * channels
            let dq = dqkv + off, dk = dq + channels, dv = dq + 2 * channels
            let dy = dout + b * seq * channels + h * hs
            let p = att + bh * seq * seq
            // Last chunk first: it meets every key, so it initialises dK and dV (beta 0); the others add.
            var r1 = seq
            while r1 > 0 {
                let r0 = ((r1 - 1) / chunk) * chunk
                let beta: Float = r1 == seq ? 0 : 1
                // dP = dY V^T and dV += P^T dY
                sgemm(transA: false, transB: true, m: r1 - r0, n: r1, k: hs,
                      a: dy + r0 * channels, lda: channels, b: v, ldb: c3, beta: 0, c: ds + r0 * seq, ldc: seq)
                sgemm(transA: true, transB: false, m: r1, n: hs, k: r1 - r0,
                      a: p + r0 * seq, lda: seq, b: dy + r0 * channels, ldb: channels, beta: beta, c: dv, ldc: c3)
                for t in r0..<r1 {
                    fk_softmax_backward_row(ds + t * seq, p + t * seq, t + 1, scale)
                    if t + 1 < r1 { (ds + t * seq + t + 1).update(repeating: 0, count: r1 - t - 1) }
                }
                // dQ = dS K and dK += dS^T Q
                sgemm(transA: false, transB: false, m: r1 - r0, n: hs, k: r1,
                      a: ds + r0 * seq, lda: seq, b: k, ldb: c3, beta: 0, c: dq + r0 * c3, ldc: c3)
                sgemm(transA: true, transB: false, m: r1, n: hs, k: r1 - r0,
                      a: ds + r0 * seq, lda: seq, b: q + r0 * c3, ldb: c3, beta: beta, c: dk, ldc: c3)
                r1 = r0
            }
        }
    }
}

/// Softmax of `x[0..<n]` in place, with `x[n..<length]` set to zero (one causal attention row).
@inline(__always)
public func softmaxRow(_ x: UnsafeMutablePointer<Float>, count n: Int, length: Int) {
    fk_softmax_row(x, n, length)
}
