import Foundation
import Kernels
import XCTest

/// The Llama kernels (RMSNorm, SwiGLU, RoPE, grouped-query expansion, nn.Linear matmuls, embedding without
/// positions) against Double closed forms, Double central differences and transformers' own RoPE tables.
final class LlamaKernelTests: XCTestCase {
    /// Uniform values in [-scale, scale) from SplitMix64, different for every seed.
    func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<n).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return (Float(z >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// Runs `body` on every kernel path this CPU has, then restores the best.
    func onEveryPath(_ body: (KernelPath) throws -> Void) rethrows {
        defer { KernelPath.select(.best) }
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.select(path))
            try body(path)
        }
    }

    /// The central difference of `f` at `x[i]` in Double.
    func centralDifference(_ x: [Double], _ i: Int, _ f: ([Double]) -> Double, h: Double = 1e-6) -> Double {
        var plus = x, minus = x
        plus[i] += h
        minus[i] -= h
        return (f(plus) - f(minus)) / (2 * h)
    }

    func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    // MARK: RMSNorm

    /// out = x / sqrt(mean(x^2) + eps) * w in Double, rows of `dim`.
    func rmsNormReference(_ x: [Double], _ w: [Double], rows: Int, dim: Int, eps: Double) -> [Double] {
        var out = [Double](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            let row = x[(r * dim)..<((r + 1) * dim)]
            let rstd = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + eps).squareRoot()
            for j in 0..<dim { out[r * dim + j] = x[r * dim + j] * rstd * w[j] }
        }
        return out
    }

    func testRMSNormForwardAndGradientsByCentralDifferences() {
        let eps: Float = 1e-5
        onEveryPath { path in
            for (rows, dim) in [(3, 5), (2, 37), (2, 64)] {
                let x = random(rows * dim, seed: 1, scale: 2), w = random(dim, seed: 2).map { 1 + 0.5 * $0 }
                let g = random(rows * dim, seed: 3)
                var out = [Float](repeating: .nan, count: rows * dim), rstd = [Float](repeating: .nan, count: rows)
                rmsNormForward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, dim: dim, eps: eps)
                let (xd, wd, gd) = (x.map(Double.init), w.map(Double.init), g.map(Double.init))
                let reference = rmsNormReference(xd, wd, rows: rows, dim: dim, eps: Double(eps))
                for i in 0..<out.count { XCTAssertEqual(Double(out[i]), reference[i], accuracy: 1e-5, "\(path) \(dim)") }
                for r in 0..<rows {
                    let ms = x[(r * dim)..<((r + 1) * dim)].map { Double($0) * Double($0) }.reduce(0, +) / Double(dim)
                    XCTAssertEqual(Double(rstd[r]), 1 / (ms + Double(eps)).squareRoot(), accuracy: 1e-5)
                }
                // Gradients of L = <g, out>, added to what the buffers held (dinp 0.25, dweight -1).
                var dx = [Float](repeating: 0.25, count: rows * dim), dw = [Float](repeating: -1, count: dim)
                rmsNormBackward(dinp: &dx, dweight: &dw, dout: g, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
                func loss(_ x: [Double], _ w: [Double]) -> Double {
                    zip(gd, rmsNormReference(x, w, rows: rows, dim: dim, eps: Double(eps))).reduce(0) { $0 + $1.0 * $1.1 }
                }
                for i in 0..<x.count {
                    let fd = centralDifference(xd, i) { loss($0, wd) }
                    XCTAssertEqual(Double(dx[i]), 0.25 + fd, accuracy: 2e-5, "\(path) dinp[\(i)] dim \(dim)")
                }
                for j in 0..<dim {
                    let fd = centralDifference(wd, j) { loss(xd, $0) }
                    XCTAssertEqual(Double(dw[j]), -1 + fd, accuracy: 2e-5, "\(path) dweight[\(j)] dim \(dim)")
                }
                // Each gradient alone equals the same gradient computed together.
                var dxAlone = [Float](repeating: 0.25, count: rows * dim), dwAlone = [Float](repeating: -1, count: dim)
                rmsNormBackward(dinp: &dxAlone, dweight: nil, dout: g, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
                rmsNormBackward(dinp: nil, dweight: &dwAlone, dout: g, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
                XCTAssertEqual(dxAlone, dx)
                XCTAssertEqual(dwAlone, dw)
            }
        }
    }

    func testRMSNormBackwardDoesNotDependOnThreadCount() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        let (rows, dim) = (200, 160)
        let x = random(rows * dim, seed: 4), w = random(dim, seed: 5), g = random(rows * dim, seed: 6)
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            BLAS.setThreads(threads)
            var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
            rmsNormForward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, dim: dim, eps: 1e-6)
            var dx = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 0, count: dim)
            rmsNormBackward(dinp: &dx, dweight: &dw, dout: g, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
            results.append(out + rstd + dx + dw)
        }
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
    }

    // MARK: SwiGLU

    func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    func testSwiGLUForwardAndGradientsByCentralDifferences() {
        onEveryPath { path in
            for (rows, hidden) in [(3, 1), (2, 7), (2, 37), (1, 64)] {
                var gateUp = random(rows * 2 * hidden, seed: 7, scale: 6)
                gateUp[0] = -95  // exp(-x) past the kernels' clamp: silu is still ~0
                if hidden > 1 { gateUp[1] = 40 }
                let dout = random(rows * hidden, seed: 8)
                var out = [Float](repeating: .nan, count: rows * hidden)
                swigluForward(out: &out, gateUp: gateUp, rows: rows, hidden: hidden)
                let gd = gateUp.map(Double.init)
                func forward(_ v: [Double]) -> [Double] {
                    (0..<(rows * hidden)).map { k in
                        let (r, i) = (k / hidden, k % hidden)
                        return silu(v[r * 2 * hidden + i]) * v[r * 2 * hidden + hidden + i]
                    }
                }
                let reference = forward(gd)
                for k in 0..<out.count {
                    XCTAssertEqual(Double(out[k]), reference[k], accuracy: 1e-6 * max(1, abs(reference[k])), "\(path)")
                }
                var dgateUp = [Float](repeating: .nan, count: rows * 2 * hidden)
                swigluBackward(dgateUp: &dgateUp, dout: dout, gateUp: gateUp, rows: rows, hidden: hidden)
                for k in 0..<gateUp.count {
                    let fd = centralDifference(gd, k) { v in zip(dout, forward(v)).reduce(0) { $0 + Double($1.0) * $1.1 } }
                    XCTAssertEqual(Double(dgateUp[k]), fd, accuracy: 2e-5 * max(1, abs(fd)), "\(path) [\(k)] hidden \(hidden)")
                }
            }
        }
    }

    // MARK: RoPE

    func testRotaryTableAnglesMatchTheDoubleFormula() {
        let (headDim, theta) = (12, 10_000.0)
        let table = RotaryTable(headDim: headDim, positions: 300, theta: theta)
        XCTAssertEqual(table.cos.count, 300 * headDim / 2)
        for p in [0, 1, 2, 17, 299] {
            for i in 0..<(headDim / 2) {
                let angle = Double(p) * pow(theta, -Double(2 * i) / Double(headDim))
                // Float inverse frequencies and angles: an error of a few float ulps of the angle.
                let tolerance = 3e-7 * max(1, angle)
                XCTAssertEqual(Double(table.cos[p * headDim / 2 + i]), cos(angle), accuracy: tolerance, "p \(p) i \(i)")
                XCTAssertEqual(Double(table.sin[p * headDim / 2 + i]), sin(angle), accuracy: tolerance, "p \(p) i \(i)")
            }
        }
    }

    /// x [batch*seq, stride] with two heads from column 5, rows at positions 3 + r % seq; half-heads of 6 (shorter
    /// than a vector) and 19 (whole vectors and a tail).
    func testRopeRotatesPairsByTheTableAngleAndInverseIsTheTranspose() {
        for headDim in [12, 38] { onEveryPath { path in
            let (batch, seq, heads, first, offset) = (2, 5, 2, 5, 3)
            let stride = first + heads * headDim + 2
            let table = RotaryTable(headDim: headDim, positions: 8, theta: 50)
            let half = headDim / 2, rows = batch * seq
            let x = random(rows * stride, seed: 9), y = random(rows * stride, seed: 10)
            var rx = x, ry = y
            ropeRotate(&rx, rowStride: stride, firstColumn: first, heads: heads, headDim: headDim, batch: batch, seq: seq,
                       positionOffset: offset, table: table, inverse: false)
            ropeRotate(&ry, rowStride: stride, firstColumn: first, heads: heads, headDim: headDim, batch: batch, seq: seq,
                       positionOffset: offset, table: table, inverse: true)
            for r in 0..<rows {
                let p = offset + r % seq
                for c in 0..<stride where c < first || c >= first + heads * headDim {
                    XCTAssertEqual(rx[r * stride + c], x[r * stride + c], "column \(c) outside the heads is untouched")
                }
                for h in 0..<heads { for i in 0..<half {
                    let a = r * stride + first + h * headDim + i, b = a + half
                    let (cs, sn) = (Double(table.cos[p * half + i]), Double(table.sin[p * half + i]))
                    let (xa, xb) = (Double(x[a]), Double(x[b]))
                    XCTAssertEqual(Double(rx[a]), xa * cs - xb * sn, accuracy: 1e-6, "\(path) row \(r) head \(h) pair \(i)")
                    XCTAssertEqual(Double(rx[b]), xb * cs + xa * sn, accuracy: 1e-6, "\(path) row \(r) head \(h) pair \(i)")
                    XCTAssertEqual(Double(rx[a] * rx[a] + rx[b] * rx[b]), xa * xa + xb * xb, accuracy: 1e-5, "norm of the pair")
                } }
            }
            XCTAssertEqual(dot(rx, y), dot(x, ry), accuracy: 1e-5, "<R x, y> = <x, R^-1 y>")
            var back = rx
            ropeRotate(&back, rowStride: stride, firstColumn: first, heads: heads, headDim: headDim, batch: batch, seq: seq,
                       positionOffset: offset, table: table, inverse: true)
            for i in 0..<x.count { XCTAssertEqual(back[i], x[i], accuracy: 1e-6) }
            XCTAssertNotEqual(rx, x, "a rotation happened")
        } }
    }

    struct RopeFixture: Decodable {
        struct Case: Decodable {
            let name: String
            let head_dim: Int
            let theta: Double
            let scaling: RopeScaling?
            let positions: [Int]
            let inv_freq: [Float]
            let cos: [[Float]]
            let sin: [[Float]]
        }
        let cases: [Case]
    }

    /// Tables against transformers' LlamaRotaryEmbedding (default and rope_type "llama3"), written by
    /// Fixtures/make_llama3_rope.py. The scaling decodes from the Hugging Face key names.
    func testRotaryTablesMatchTransformers() throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama_rope.json")
        let fixture = try JSONDecoder().decode(RopeFixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(fixture.cases.map(\.name), ["default", "llama3.1", "llama3-small"])
        XCTAssertEqual(fixture.cases[1].scaling,
                       RopeScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        for c in fixture.cases {
            let table = RotaryTable(headDim: c.head_dim, positions: c.positions.max()! + 1, theta: c.theta, scaling: c.scaling)
            let half = c.head_dim / 2
            XCTAssertEqual(table.inverseFrequencies.count, half)
            for i in 0..<half {
                // Equal here (glibc powf); an ulp allowed for a libm that rounds pow differently.
                XCTAssertEqual(table.inverseFrequencies[i], c.inv_freq[i], accuracy: c.inv_freq[i].ulp, "\(c.name) inv_freq[\(i)]")
            }
            for (k, p) in c.positions.enumerated() {
                for i in 0..<half {
                    // torch's vectorised float cos/sin are within an ulp; ours are the correctly rounded values.
                    XCTAssertEqual(table.cos[p * half + i], c.cos[k][i], accuracy: c.cos[k][i].ulp, "\(c.name) cos p \(p) i \(i)")
                    XCTAssertEqual(table.sin[p * half + i], c.sin[k][i], accuracy: c.sin[k][i].ulp, "\(c.name) sin p \(p) i \(i)")
                }
            }
        }
        let unscaled = RotaryTable(headDim: 64, positions: 1, theta: 500_000)
        XCTAssertNotEqual(unscaled.inverseFrequencies.last, fixture.cases[1].inv_freq.last, "llama3 scaling changes the low frequencies")
    }

    // MARK: Grouped-query attention

    func testRepeatKeyValuesFollowsRepeatKVAndSumIsItsAdjoint() {
        let (rows, headDim) = (3, 5)
        for (heads, kvHeads) in [(4, 2), (6, 2), (4, 1), (3, 3)] {
            let group = heads / kvHeads, c = heads * headDim
            let packedWidth = (heads + 2 * kvHeads) * headDim
            let packed = random(rows * packedWidth, seed: 11)
            var expanded = [Float](repeating: .nan, count: rows * 3 * c)
            repeatKeyValues(expanded: &expanded, packed: packed, rows: rows, heads: heads, kvHeads: kvHeads, headDim: headDim)
            for r in 0..<rows { for h in 0..<heads { for d in 0..<headDim {
                let e = r * 3 * c + h * headDim + d, p = r * packedWidth
                XCTAssertEqual(expanded[e], packed[p + h * headDim + d], "q head \(h)")
                XCTAssertEqual(expanded[e + c], packed[p + (heads + h / group) * headDim + d], "k of head \(h)")
                XCTAssertEqual(expanded[e + 2 * c], packed[p + (heads + kvHeads + h / group) * headDim + d], "v of head \(h)")
            } } }
            let dExpanded = random(rows * 3 * c, seed: 12)
            var dPacked = [Float](repeating: .nan, count: rows * packedWidth)
            sumKeyValueGradients(packed: &dPacked, expanded: dExpanded, rows: rows, heads: heads, kvHeads: kvHeads, headDim: headDim)
            XCTAssertEqual(dot(expanded, dExpanded), dot(packed, dPacked), accuracy: 1e-5, "\(heads)/\(kvHeads): adjoint")
            for r in 0..<rows { for kv in 0..<kvHeads { for d in 0..<headDim {
                var (k, v): (Float, Float) = (0, 0)  // summed in group order, as the kernel promises
                for g in 0..<group {
                    k += dExpanded[r * 3 * c + c + (kv * group + g) * headDim + d]
                    v += dExpanded[r * 3 * c + 2 * c + (kv * group + g) * headDim + d]
                }
                XCTAssertEqual(dPacked[r * packedWidth + (heads + kv) * headDim + d], k)
                XCTAssertEqual(dPacked[r * packedWidth + (heads + kvHeads + kv) * headDim + d], v)
            } } }
        }
    }

    // MARK: nn.Linear

    func testLinearForwardBackwardAgainstNaive() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        // The second shape is large enough for parallelSgemm to split it across workers.
        for (rows, inDim, outDim) in [(5, 7, 9), (70, 64, 72)] {
            let x = random(rows * inDim, seed: 13), w = random(outDim * inDim, seed: 14)
            let residual = random(rows * outDim, seed: 15), dout = random(rows * outDim, seed: 16)
            var expected = [Double](repeating: 0, count: rows * outDim)
            var expectedDx = [Double](repeating: 0, count: rows * inDim), expectedDw = [Double](repeating: 0, count: outDim * inDim)
            for r in 0..<rows { for o in 0..<outDim { for i in 0..<inDim {
                expected[r * outDim + o] += Double(x[r * inDim + i]) * Double(w[o * inDim + i])
                expectedDx[r * inDim + i] += Double(dout[r * outDim + o]) * Double(w[o * inDim + i])
                expectedDw[o * inDim + i] += Double(dout[r * outDim + o]) * Double(x[r * inDim + i])
            } } }
            for threads in [1, 2] {
                BLAS.setThreads(threads)
                var y = [Float](repeating: .nan, count: rows * outDim), yr = y
                linearForward(out: &y, inp: x, weight: w, rows: rows, inDim: inDim, outDim: outDim)
                linearForward(out: &yr, inp: x, weight: w, rows: rows, inDim: inDim, outDim: outDim, residual: residual)
                for k in 0..<y.count {
                    XCTAssertEqual(Double(y[k]), expected[k], accuracy: 1e-4)
                    XCTAssertEqual(Double(yr[k]), expected[k] + Double(residual[k]), accuracy: 1e-4)
                }
                var dx = [Float](repeating: .nan, count: rows * inDim), dw = [Float](repeating: 0.5, count: outDim * inDim)
                linearBackward(dinp: &dx, dweight: &dw, dout: dout, inp: x, weight: w, rows: rows, inDim: inDim, outDim: outDim)
                var dxAccumulated = [Float](repeating: 2, count: rows * inDim)
                linearBackward(dinp: &dxAccumulated, dweight: nil, dout: dout, inp: x, weight: w, rows: rows, inDim: inDim,
                               outDim: outDim, accumulateInput: true)
                for k in 0..<dx.count {
                    XCTAssertEqual(Double(dx[k]), expectedDx[k], accuracy: 1e-4)
                    XCTAssertEqual(Double(dxAccumulated[k]), 2 + expectedDx[k], accuracy: 1e-4)
                }
                for k in 0..<dw.count { XCTAssertEqual(Double(dw[k]), 0.5 + expectedDw[k], accuracy: 1e-4, "dweight accumulates") }
            }
        }
    }

    // MARK: Embedding

    func testEmbeddingWithoutPositionsCopiesTokenRows() {
        let (vocab, channels, batch, seq) = (6, 5, 2, 3)
        let wte = random(vocab * channels, seed: 17), wpe = random(seq * channels, seed: 18)
        let tokens: [Int32] = [5, 0, 3, 3, 1, 4]
        var plain = [Float](repeating: .nan, count: batch * seq * channels), withPositions = plain
        embeddingForward(out: &plain, tokens: tokens, wte: wte, wpe: nil, batch: batch, seq: seq, channels: channels)
        embeddingForward(out: &withPositions, tokens: tokens, wte: wte, wpe: wpe, batch: batch, seq: seq, channels: channels)
        for row in 0..<(batch * seq) { for c in 0..<channels {
            let token = wte[Int(tokens[row]) * channels + c]
            XCTAssertEqual(plain[row * channels + c], token)
            XCTAssertEqual(withPositions[row * channels + c], token + wpe[(row % seq) * channels + c])
        } }
    }
}
