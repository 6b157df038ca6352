import Foundation
import Kernels
import XCTest

/// The kernels of a Llama training step against Double loops at the sizes of a 5-layer, 64-wide Llama
/// (4 x 64 rows, intermediate 172, head size 16, vocabulary 512): on every kernel path each result is within
/// a few float roundings of the exact one (docs/TESTING.md, "How close the kernel paths are").
extension LlamaKernelTests {
    /// max|ours - exact| / max|exact|, the measure verify-reference reports.
    func normwiseError(_ ours: [Float], _ exact: [Double]) -> Double {
        zip(ours, exact).map { abs(Double($0) - $1) }.max()! / exact.map(abs).max()!
    }

    /// Each kernel's normwise error on the current path, by name.
    func llamaStepKernelErrors() -> [String: Double] {
        let (batch, seq, dim, heads) = (4, 64, 64, 4)
        let qkv = random(batch * seq * 3 * dim, seed: 26, scale: 2)
        let (y, dqkv) = attentionErrors(qkv: qkv, batch: batch, seq: seq, channels: dim, heads: heads)
        return rmsNormErrors(rows: batch * seq, dim: dim)
            .merging(swigluErrors(rows: batch * seq, hidden: 172)) { a, _ in a }
            .merging(crossEntropyErrors(rows: batch * seq, vocab: 512)) { a, _ in a }
            .merging(["rope": ropeError(qkv: qkv, batch: batch, seq: seq, channels: dim, heads: heads),
                      "attention out": y, "attention dqkv": dqkv]) { a, _ in a }
    }

    /// RMSNorm's output and both gradients (output gradient 1e-3-sized) against a Double loop.
    func rmsNormErrors(rows: Int, dim: Int) -> [String: Double] {
        let x = random(rows * dim, seed: 21, scale: 2), w = random(dim, seed: 22).map { 1 + 0.3 * $0 }
        let g = random(rows * dim, seed: 23, scale: 1e-3)
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        rmsNormForward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, dim: dim, eps: 1e-5)
        var dx = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 0, count: dim)
        rmsNormBackward(dinp: &dx, dweight: &dw, dout: g, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
        var exactOut = [Double](repeating: 0, count: rows * dim), exactDx = exactOut, exactDw = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            let row = (r * dim)..<((r + 1) * dim)
            let rs = 1 / (row.map { Double(x[$0]) * Double(x[$0]) }.reduce(0, +) / Double(dim) + 1e-5).squareRoot()
            let dot = row.map { Double(w[$0 - r * dim]) * Double(g[$0]) * Double(x[$0]) }.reduce(0, +)
            for i in row {
                let (xi, wi, gi) = (Double(x[i]), Double(w[i - r * dim]), Double(g[i]))
                exactOut[i] = xi * rs * wi
                exactDx[i] = rs * (wi * gi - xi * rs * rs * dot / Double(dim))
                exactDw[i - r * dim] += xi * rs * gi
            }
        }
        return ["rmsnorm out": normwiseError(out, exactOut), "rmsnorm dinp": normwiseError(dx, exactDx),
                "rmsnorm dweight": normwiseError(dw, exactDw)]
    }

    /// SwiGLU's output and gradient against a Double loop.
    func swigluErrors(rows: Int, hidden: Int) -> [String: Double] {
        let gateUp = random(rows * 2 * hidden, seed: 24, scale: 4), dout = random(rows * hidden, seed: 25, scale: 1e-3)
        var act = [Float](repeating: 0, count: rows * hidden), dgateUp = [Float](repeating: 0, count: rows * 2 * hidden)
        swigluForward(out: &act, gateUp: gateUp, rows: rows, hidden: hidden)
        swigluBackward(dgateUp: &dgateUp, dout: dout, gateUp: gateUp, rows: rows, hidden: hidden)
        var exactAct = [Double](repeating: 0, count: rows * hidden), exactDgu = [Double](repeating: 0, count: rows * 2 * hidden)
        for r in 0..<rows { for i in 0..<hidden {
            let (a, u, d) = (Double(gateUp[r * 2 * hidden + i]), Double(gateUp[r * 2 * hidden + hidden + i]), Double(dout[r * hidden + i]))
            let s = 1 / (1 + exp(-a))
            exactAct[r * hidden + i] = a * s * u
            exactDgu[r * 2 * hidden + i] = d * u * s * (1 + a * (1 - s))
            exactDgu[r * 2 * hidden + hidden + i] = d * a * s
        } }
        return ["swiglu out": normwiseError(act, exactAct), "swiglu dgate, dup": normwiseError(dgateUp, exactDgu)]
    }

    /// RoPE on the query columns of qkv rows (theta 10000), with the engine's float tables, against a Double loop.
    func ropeError(qkv: [Float], batch: Int, seq: Int, channels dim: Int, heads: Int) -> Double {
        let rows = batch * seq, headDim = dim / heads, half = headDim / 2
        let table = RotaryTable(headDim: headDim, positions: seq, theta: 10_000)
        var rotated = qkv
        ropeRotate(&rotated, rowStride: 3 * dim, firstColumn: 0, heads: heads, headDim: headDim, batch: batch, seq: seq,
                   table: table, inverse: false)
        var exactRotated = qkv.map(Double.init)
        for r in 0..<rows { for h in 0..<heads { for i in 0..<half {
            let (a, p) = (r * 3 * dim + h * headDim + i, (r % seq) * half + i)
            let (c, s, xa, xb) = (Double(table.cos[p]), Double(table.sin[p]), Double(qkv[a]), Double(qkv[a + half]))
            exactRotated[a] = xa * c - xb * s
            exactRotated[a + half] = xb * c + xa * s
        } } }
        return normwiseError(rotated, exactRotated)
    }

    /// Cross-entropy of peaked logits (a trained model's) and its gradient against a Double loop.
    func crossEntropyErrors(rows: Int, vocab: Int) -> [String: Double] {
        let logits = random(rows * vocab, seed: 27, scale: 8)
        let targets = (0..<rows).map { Int32(($0 * 197) % vocab) }
        var grad = logits
        let loss = crossEntropy(logits: &grad, targets: targets, rows: rows, vocab: vocab, gradientScale: 1 / Float(rows))
        var exactLoss = 0.0, exactGrad = [Double](repeating: 0, count: rows * vocab)
        for r in 0..<rows {
            let row = logits[(r * vocab)..<((r + 1) * vocab)].map(Double.init), m = row.max()!
            let sum = row.map { exp($0 - m) }.reduce(0, +)
            exactLoss += log(sum) + m - row[Int(targets[r])]
            for i in 0..<vocab { exactGrad[r * vocab + i] = (exp(row[i] - m) / sum - (i == targets[r] ? 1 : 0)) / Double(rows) }
        }
        return ["cross-entropy loss": abs(loss.sum - exactLoss) / exactLoss, "cross-entropy dlogits": normwiseError(grad, exactGrad)]
    }

    /// Causal attention's output and qkv gradient (output gradient 1e-3-sized) against a Double loop.
    func attentionErrors(qkv: [Float], batch: Int, seq: Int, channels c: Int, heads: Int) -> (Double, Double) {
        let hs = c / heads, scale = 1 / Double(hs).squareRoot()
        let dy = random(batch * seq * c, seed: 28, scale: 1e-3)
        var y = [Float](repeating: 0, count: batch * seq * c), lse = [Float](repeating: 0, count: batch * heads * seq)
        var dqkv = [Float](repeating: 0, count: qkv.count), scratch = [Float](repeating: 0, count: seq * seq)
        attentionForward(out: &y, att: &lse, keepMaps: true, qkv: qkv, batch: batch, seq: seq, channels: c, heads: heads)
        attentionBackward(dqkv: &dqkv, dout: dy, qkv: qkv, att: lse, scratch: &scratch, batch: batch, seq: seq, channels: c, heads: heads)
        var exactY = [Double](repeating: 0, count: y.count), exactD = [Double](repeating: 0, count: qkv.count)
        for b in 0..<batch { for h in 0..<heads {
            func at(_ t: Int, _ part: Int, _ d: Int) -> Int { (b * seq + t) * 3 * c + part * c + h * hs + d }
            for t in 0..<seq {
                let scores = (0...t).map { j in (0..<hs).map { Double(qkv[at(t, 0, $0)]) * Double(qkv[at(j, 1, $0)]) }.reduce(0, +) * scale }
                let m = scores.max()!, e = scores.map { exp($0 - m) }, sum = e.reduce(0, +), p = e.map { $0 / sum }
                let g = (0..<hs).map { Double(dy[(b * seq + t) * c + h * hs + $0]) }
                let dp = (0...t).map { j in (0..<hs).map { g[$0] * Double(qkv[at(j, 2, $0)]) }.reduce(0, +) }
                let pdp = zip(p, dp).map(*).reduce(0, +)
                for j in 0...t {
                    let ds = scale * p[j] * (dp[j] - pdp)
                    for d in 0..<hs {
                        exactY[(b * seq + t) * c + h * hs + d] += p[j] * Double(qkv[at(j, 2, d)])
                        exactD[at(t, 0, d)] += ds * Double(qkv[at(j, 1, d)])
                        exactD[at(j, 1, d)] += ds * Double(qkv[at(t, 0, d)])
                        exactD[at(j, 2, d)] += p[j] * g[d]
                    }
                }
            }
        } }
        return (normwiseError(y, exactY), normwiseError(dqkv, exactD))
    }

    /// Each path's error under a bound of a few float roundings (about 3x the largest any path measured on an
    /// AVX-512 CPU): a kernel whose vectorised code rounds worse on one path (a reduction order, an
    /// approximation) fails by name and path.
    func testEveryLlamaStepKernelIsWithinAFewRoundingsOfDoubleOnEveryPath() {
        let bounds: [String: Double] = [
            "rmsnorm out": 4e-7, "rmsnorm dinp": 6e-7, "rmsnorm dweight": 2e-6, "swiglu out": 4e-7,
            "swiglu dgate, dup": 8e-7, "rope": 2.5e-7, "attention out": 8e-7, "attention dqkv": 1e-6,
            "cross-entropy loss": 2e-8, "cross-entropy dlogits": 1e-7,
        ]
        onEveryPath { path in
            let errors = llamaStepKernelErrors()
            XCTAssertEqual(Set(errors.keys), Set(bounds.keys))
            for (name, error) in errors.sorted(by: { $0.key < $1.key }) {
                XCTAssertLessThanOrEqual(error, bounds[name]!, "\(name) on \(path)")
            }
        }
    }
}
