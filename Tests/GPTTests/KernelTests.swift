import Foundation
import Kernels
import XCTest

/// Kernels against plain Double references, including sizes that are not multiples of the vector width.
final class KernelTests: XCTestCase {
    func values(_ n: Int, seed: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { i in Float(((i * 7919 + seed * 104_729) % 2001) - 1000) / 1000 * scale }
    }

    /// Runs `body` once on every kernel path this CPU has (baseline, AVX2+FMA, AVX-512), then restores the best.
    func onEveryPath(_ body: (KernelPath) throws -> Void) rethrows {
        defer { KernelPath.select(.best) }
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.select(path))
            XCTAssertEqual(KernelPath.current, path)
            try body(path)
        }
    }

    func testEveryPathTheCPUHasIsSelectable() {
        XCTAssertEqual(KernelPath.supported.first, .baseline)
        XCTAssertEqual(KernelPath.supported.last, KernelPath.best)
        if CPU.hasAVX2FMA { XCTAssertTrue(KernelPath.supported.contains(.avx2), "AVX2+FMA CPU without the avx2 path") }
        if CPU.hasAVX512 { XCTAssertEqual(KernelPath.best, .avx512, "AVX-512 CPU not running the avx512 path") }
        if !CPU.hasAVX512 { XCTAssertFalse(KernelPath.select(.avx512)) }
    }

    func testFastExpIsAccurateOnEveryPath() {
        let xs = (0..<20_003).map { Float($0 - 10_000) / 10_000 * 87 } + [-200, 200]
        onEveryPath { path in
            var e = [Float](repeating: 0, count: xs.count)
            fastExp(out: &e, inp: xs, count: xs.count)
            var worst = 0.0
            for i in 0..<(xs.count - 2) { worst = max(worst, abs(Double(e[i]) - exp(Double(xs[i]))) / exp(Double(xs[i]))) }
            XCTAssertLessThan(worst, 5e-7, "\(path)")
            XCTAssertEqual(e[xs.count - 2], 0, accuracy: 1e-37)
            XCTAssertTrue(e[xs.count - 1].isFinite)
        }
    }

    func testSoftmaxRowForEveryLengthOnEveryPath() {
        onEveryPath { path in
            for n in 1...37 {
                for length in [n, n + 7, 48] {
                    var x = values(length, seed: n, scale: 5)
                    let input = x
                    x.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, count: n, length: length) }
                    let m = input[0..<n].max()!
                    let sum = input[0..<n].map { exp(Double($0 - m)) }.reduce(0, +)
                    for j in 0..<n { XCTAssertEqual(Double(x[j]), exp(Double(input[j] - m)) / sum, accuracy: 1e-6, "\(path)") }
                    for j in n..<length { XCTAssertEqual(x[j], 0, "masked entries are zero (\(path))") }
                }
            }
        }
    }

    /// Naive causal attention in Double.
    func referenceAttention(_ qkv: [Float], b: Int, t: Int, c: Int, nh: Int) -> [Double] {
        let hs = c / nh
        var out = [Double](repeating: 0, count: b * t * c)
        for bb in 0..<b { for h in 0..<nh { for i in 0..<t {
            var scores = [Double]()
            for j in 0...i {
                var s = 0.0
                for d in 0..<hs { s += Double(qkv[(bb * t + i) * 3 * c + h * hs + d]) * Double(qkv[(bb * t + j) * 3 * c + c + h * hs + d]) }
                scores.append(s / Double(hs).squareRoot())
            }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
            for d in 0..<hs {
                var acc = 0.0
                for j in 0...i { acc += e[j] / z * Double(qkv[(bb * t + j) * 3 * c + 2 * c + h * hs + d]) }
                out[(bb * t + i) * c + h * hs + d] = acc
            }
        } } }
        return out
    }

    /// log(sum_j exp(q_i . k_j / sqrt(hs))) over j <= i, in Double, per (batch, head, query row).
    func referenceLogSumExp(_ qkv: [Float], b: Int, t: Int, c: Int, nh: Int) -> [Double] {
        let hs = c / nh
        var out: [Double] = []
        for bb in 0..<b { for h in 0..<nh { for i in 0..<t {
            var scores: [Double] = []
            for j in 0...i {
                var dot = 0.0
                for d in 0..<hs { dot += Double(qkv[(bb * t + i) * 3 * c + h * hs + d]) * Double(qkv[(bb * t + j) * 3 * c + c + h * hs + d]) }
                scores.append(dot / Double(hs).squareRoot())
            }
            let m = scores.max()!
            out.append(m + log(scores.map { exp($0 - m) }.reduce(0, +)))
        } } }
        return out
    }

    func testAttentionForwardMatchesNaiveAndIsThreadCountIndependent() {
        onEveryPath { path in
            let (b, t, c, nh) = (3, 13, 12, 3)
            let qkv = values(b * t * 3 * c, seed: 3, scale: 2)
            let reference = referenceAttention(qkv, b: b, t: t, c: c, nh: nh)
            var outputs: [[Float]] = []
            let saved = BLAS.threads
            defer { BLAS.setThreads(saved) }
            for (threads, keep) in [(1, true), (2, true), (2, false), (1, false)] {
                BLAS.setThreads(threads)
                var out = [Float](repeating: 0, count: b * t * c)
                var att = [Float](repeating: 0, count: keep ? b * nh * t * t : 2 * t * t)
                out.withUnsafeMutableBufferPointer { o in
                    att.withUnsafeMutableBufferPointer { a in
                        attentionForward(out: o.baseAddress!, att: a.baseAddress!, keepMaps: keep, scratchMaps: 2, qkv: qkv,
                                         batch: b, seq: t, channels: c, heads: nh)
                    }
                }
                if keep {  // what backward reads: each softmax row's log-sum-exp at att[(b * nh + h) * t + i]
                    let lse = referenceLogSumExp(qkv, b: b, t: t, c: c, nh: nh)
                    for row in 0..<(b * nh * t) { XCTAssertEqual(Double(att[row]), lse[row], accuracy: 1e-5) }
                }
                for i in 0..<out.count { XCTAssertEqual(Double(out[i]), reference[i], accuracy: 1e-5) }
                outputs.append(out)
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0]) }
        }
    }

    /// Naive causal attention backward in Double: d(qkv) for upstream gradient `dout`.
    func referenceAttentionBackward(_ qkv: [Float], _ dout: [Float], b: Int, t: Int, c: Int, nh: Int) -> [Double] {
        let hs = c / nh, scale = 1 / Double(hs).squareRoot()
        var d = [Double](repeating: 0, count: b * t * 3 * c)
        func at(_ bb: Int, _ i: Int, _ part: Int, _ h: Int, _ e: Int) -> Int { (bb * t + i) * 3 * c + part * c + h * hs + e }
        for bb in 0..<b { for h in 0..<nh { for i in 0..<t {
            var s = [Double]()
            for j in 0...i { s.append((0..<hs).map { Double(qkv[at(bb, i, 0, h, $0)]) * Double(qkv[at(bb, j, 1, h, $0)]) }.reduce(0, +) * scale) }
            let m = s.max()!, e = s.map { exp($0 - m) }, z = e.reduce(0, +), p = e.map { $0 / z }
            let dy = (0..<hs).map { Double(dout[(bb * t + i) * c + h * hs + $0]) }
            let dp = (0...i).map { j in (0..<hs).map { dy[$0] * Double(qkv[at(bb, j, 2, h, $0)]) }.reduce(0, +) }
            let dot = zip(p, dp).map { $0 * $1 }.reduce(0, +)
            for j in 0...i {
                let ds = p[j] * (dp[j] - dot) * scale
                for e2 in 0..<hs {
                    d[at(bb, j, 2, h, e2)] += p[j] * dy[e2]
                    d[at(bb, i, 0, h, e2)] += ds * Double(qkv[at(bb, j, 1, h, e2)])
                    d[at(bb, j, 1, h, e2)] += ds * Double(qkv[at(bb, i, 0, h, e2)])
                }
            }
        } } }
        return d
    }

    /// T = 13 and 150 leave partial vectors (the copying path); T = 80 and 48 fill whole vectors (the
    /// in-place path), with head sizes below, at and above one vector, and tiles of query rows that
    /// end inside a vector.
    func testAttentionBackwardMatchesNaiveForEveryTiling() {
        onEveryPath { path in
            let saved = BLAS.threads
            defer { BLAS.setThreads(saved) }
            for (b, t, c, nh) in [(2, 13, 8, 2), (2, 80, 8, 2), (1, 150, 6, 1), (1, 48, 64, 2), (1, 48, 40, 2)] {
                let qkv = values(b * t * 3 * c, seed: 4, scale: 1.5), dout = values(b * t * c, seed: 6)
                let reference = referenceAttention(qkv, b: b, t: t, c: c, nh: nh)
                let dReference = referenceAttentionBackward(qkv, dout, b: b, t: t, c: c, nh: nh)
                var gradients: [[Float]] = []
                for threads in [1, 2] {
                    BLAS.setThreads(threads)
                    var out = [Float](repeating: 0, count: b * t * c), att = [Float](repeating: 0, count: b * nh * t * t)
                    var dqkv = [Float](repeating: .nan, count: b * t * 3 * c), scratch = [Float](repeating: 0, count: 2 * t * t)
                    attentionForward(out: &out, att: &att, keepMaps: true, qkv: qkv, batch: b, seq: t, channels: c, heads: nh)
                    attentionBackward(dqkv: &dqkv, dout: dout, qkv: qkv, att: att, scratch: &scratch, scratchMaps: 2,
                                      batch: b, seq: t, channels: c, heads: nh)
                    for i in 0..<out.count { XCTAssertEqual(Double(out[i]), reference[i], accuracy: 1e-5, "T=\(t)") }
                    for i in 0..<dqkv.count { XCTAssertEqual(Double(dqkv[i]), dReference[i], accuracy: 1e-5, "T=\(t) at \(i)") }
                    gradients.append(dqkv)
                }
                XCTAssertEqual(gradients[0], gradients[1], "T=\(t): bits depend on the thread count")
            }
        }
    }

    func testGELUForwardAndDerivative() {
        onEveryPath { path in
            let n = 37
            let x = values(n, seed: 5, scale: 6)
            var y = [Float](repeating: 0, count: n), d = [Float](repeating: 1, count: n)
            geluForward(out: &y, inp: x, count: n)
            d.withUnsafeMutableBufferPointer { geluBackward(dinp: $0.baseAddress!, dout: $0.baseAddress!, inp: x, count: n) }
            func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
            for i in 0..<n {
                let v = Double(x[i])
                XCTAssertEqual(Double(y[i]), gelu(v), accuracy: 2e-6)
                XCTAssertEqual(Double(d[i]), (gelu(v + 1e-5) - gelu(v - 1e-5)) / 2e-5, accuracy: 1e-5)
            }
        }
    }

    func testParallelRegionsRunEveryWorkerOnceAlsoNestedAndConcurrent() {
        let previous = BLAS.threads
        defer { BLAS.setThreads(previous) }
        BLAS.setThreads(2)
        let count = 1000
        var hits = [Int](repeating: 0, count: count)
        hits.withUnsafeMutableBufferPointer { h in
            let base = h.baseAddress!
            for _ in 0..<200 {
                Parallel.forRanges(count) { _, range in
                    for i in range { base[i] += 1 }
                    // A region inside a region runs its workers one after another on the calling thread.
                    var covered = 0
                    Parallel.forRanges(4) { _, inner in covered += inner.count }
                    XCTAssertEqual(covered, 4)
                }
            }
        }
        XCTAssertEqual(hits, [Int](repeating: 200, count: count))
        // Two threads opening regions at once: one runs in the pool, the other inline; both complete.
        let totals = UnsafeMutablePointer<Int>.allocate(capacity: 2 * count)
        totals.initialize(repeating: 0, count: 2 * count)
        defer { totals.deallocate() }
        let box = UncheckedBox(totals)
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            for _ in 0..<100 {
                Parallel.forRanges(count) { _, range in for i in range { box.pointer[t * count + i] += 1 } }
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: totals, count: 2 * count)), [Int](repeating: 100, count: 2 * count))
    }

    func testMatmulForwardBackwardAgainstNaive() {
        let (rows, inDim, outDim) = (5, 7, 9)
        let x = values(rows * inDim, seed: 1), w = values(inDim * outDim, seed: 2), bias = values(outDim, seed: 3)
        let residual = values(rows * outDim, seed: 4), dout = values(rows * outDim, seed: 5)
        var y = [Float](repeating: 0, count: rows * outDim)
        matmulForward(out: &y, inp: x, weight: w, bias: bias, rows: rows, inDim: inDim, outDim: outDim, residual: residual)
        var dx = [Float](repeating: 0, count: rows * inDim), dw = [Float](repeating: 1, count: inDim * outDim)
        var db = [Float](repeating: 1, count: outDim)
        matmulBackward(dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: x, weight: w, rows: rows, inDim: inDim, outDim: outDim)
        for r in 0..<rows {
            for o in 0..<outDim {
                var acc = Double(bias[o]) + Double(residual[r * outDim + o])
                for i in 0..<inDim { acc += Double(x[r * inDim + i]) * Double(w[i * outDim + o]) }
                XCTAssertEqual(Double(y[r * outDim + o]), acc, accuracy: 1e-5)
            }
            for i in 0..<inDim {
                var acc = 0.0
                for o in 0..<outDim { acc += Double(dout[r * outDim + o]) * Double(w[i * outDim + o]) }
                XCTAssertEqual(Double(dx[r * inDim + i]), acc, accuracy: 1e-5)
            }
        }
        for i in 0..<inDim { for o in 0..<outDim {
            var acc = 1.0  // dweight accumulates
            for r in 0..<rows { acc += Double(x[r * inDim + i]) * Double(dout[r * outDim + o]) }
            XCTAssertEqual(Double(dw[i * outDim + o]), acc, accuracy: 1e-5)
        } }
        for o in 0..<outDim {
            XCTAssertEqual(Double(db[o]), 1 + (0..<rows).map { Double(dout[$0 * outDim + o]) }.reduce(0, +), accuracy: 1e-5)
        }
    }

    func testParallelSgemmSplitsRowsAndColumnsForEveryTransposition() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        for (m, n, k) in [(100, 50, 60), (40, 120, 64), (7, 5, 3)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
                    let (lda, ldb) = (transA ? m : k, transB ? k : n)
                    var expected = [Double](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n {
                        var acc = 0.5 * Double(Float(i - j) / 10)  // beta * C
                        for l in 0..<k {
                            let av = transA ? a[l * lda + i] : a[i * lda + l], bv = transB ? b[j * ldb + l] : b[l * ldb + j]
                            acc += 2 * Double(av) * Double(bv)
                        }
                        expected[i * n + j] = acc
                    } }
                    for threads in [1, 2, 3] {
                        BLAS.setThreads(threads)
                        var c = (0..<(m * n)).map { Float($0 / n - $0 % n) / 10 }
                        parallelSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, a: a, lda: lda,
                                      b: b, ldb: ldb, beta: 0.5, c: &c, ldc: n)
                        XCTAssertEqual(BLAS.threads, threads, "the thread setting is restored")
                        for i in 0..<(m * n) { XCTAssertEqual(Double(c[i]), expected[i], accuracy: 1e-4, "\(m)x\(n)x\(k) \(transA) \(transB)") }
                    }
                }
            }
        }
    }

    /// A layer's two gradients at once give the bits of each product run alone on the workers it gets.
    func testSgemmPairEqualsTwoSeparateProductsBitForBit() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        let (rows, inDim, outDim) = (200, 72, 96)
        func buffer(_ contents: [Float]) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: contents.count)
            p.initialize(from: contents, count: contents.count)
            return p
        }
        let dout = buffer(values(rows * outDim, seed: 3)), weight = buffer(values(inDim * outDim, seed: 4))
        let inp = buffer(values(rows * inDim, seed: 5)), startWeightGradient = values(inDim * outDim, seed: 6)
        let dinp = buffer([Float](repeating: 7, count: rows * inDim)), dweight = buffer(startWeightGradient)
        defer { for p in [dout, weight, inp, dinp, dweight] { p.deallocate() } }
        let input = SgemmProblem(transA: false, transB: true, m: rows, n: inDim, k: outDim, a: dout, lda: outDim,
                                 b: weight, ldb: outDim, beta: 0, c: dinp, ldc: inDim)
        let weights = SgemmProblem(transA: true, transB: false, m: inDim, n: outDim, k: rows, a: inp, lda: inDim,
                                   b: dout, ldb: outDim, beta: 1, c: dweight, ldc: outDim)
        for threads in [1, 2, 3, 4] {
            // The reference: each product alone, on the workers the pair gives it.
            BLAS.setThreads(max(1, threads / 2))
            dinp.update(repeating: 7, count: rows * inDim)
            parallelSgemm(input)
            BLAS.setThreads(max(1, threads - threads / 2))
            dweight.update(from: startWeightGradient, count: inDim * outDim)
            parallelSgemm(weights)
            let expectedInput = Array(UnsafeBufferPointer(start: dinp, count: rows * inDim))
            let expectedWeight = Array(UnsafeBufferPointer(start: dweight, count: inDim * outDim))
            BLAS.setThreads(threads)
            dinp.update(repeating: 7, count: rows * inDim)
            dweight.update(from: startWeightGradient, count: inDim * outDim)
            parallelSgemmPair(input, weights)
            XCTAssertEqual(BLAS.threads, threads, "the thread setting is restored")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: dinp, count: rows * inDim)), expectedInput, "input gradient, \(threads) threads")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: dweight, count: inDim * outDim)), expectedWeight,
                           "weight gradient accumulated, \(threads) threads")
        }
        // And the values are the products': against a plain single-threaded call.
        var single = [Float](repeating: 0, count: rows * inDim)
        sgemm(transA: false, transB: true, m: rows, n: inDim, k: outDim, a: dout, lda: outDim, b: weight, ldb: outDim,
              beta: 0, c: &single, ldc: inDim)
        for i in 0..<(rows * inDim) { XCTAssertEqual(dinp[i], single[i], accuracy: 1e-4) }
    }

    func testResidualAndZeroFill() {
        onEveryPath { path in
            let n = 70_001
            let a = values(n, seed: 1), b = values(n, seed: 2)
            var out = [Float](repeating: 0, count: n)
            residualForward(out: &out, a, b, count: n)
            for i in stride(from: 0, to: n, by: 997) { XCTAssertEqual(out[i], a[i] + b[i]) }
            XCTAssertEqual(out[n - 1], a[n - 1] + b[n - 1])
            zeroFill(&out, count: n)
            XCTAssertTrue(out.allSatisfy { $0 == 0 })
        }
    }

    func testCrossEntropyLossAndGradient() {
        onEveryPath { path in
            let (rows, vocab) = (4, 13)
            var logits = values(rows * vocab, seed: 9, scale: 4)
            let input = logits
            let targets: [Int32] = [3, -1, 12, 0]
            let (sum, count) = crossEntropy(logits: &logits, targets: targets, rows: rows, vocab: vocab, gradientScale: 1.0 / 3)
            XCTAssertEqual(count, 3)
            var expected = 0.0
            for r in 0..<rows {
                let row = input[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
                guard targets[r] >= 0 else {
                    XCTAssertTrue(logits[(r * vocab)..<((r + 1) * vocab)].allSatisfy { $0 == 0 })
                    continue
                }
                let z = row.map(exp).reduce(0, +)
                expected += log(z) - row[Int(targets[r])]
                for v in 0..<vocab {
                    let g = (exp(row[v]) / z - (v == Int(targets[r]) ? 1 : 0)) / 3
                    XCTAssertEqual(Double(logits[r * vocab + v]), g, accuracy: 1e-6)
                }
            }
            XCTAssertEqual(sum, expected, accuracy: 1e-5)
        }
    }

    func testAdamWMatchesTorchFormula() {
        onEveryPath { path in
            let n = 11
            var p = values(n, seed: 1), m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
            var g = values(n, seed: 2, scale: 0.1)
            var (rp, rm, rv) = (p.map(Double.init), [Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
            for step in 1...3 {
                adamWUpdate(params: &p, grads: &g, m: &m, v: &v, count: n, learningRate: 1e-2, beta1: 0.9, beta2: 0.95,
                            epsilon: 1e-8, weightDecay: 0.1, step: step)
                for i in 0..<n {
                    rp[i] *= 1 - 1e-2 * 0.1
                    rm[i] = 0.9 * rm[i] + 0.1 * Double(g[i])
                    rv[i] = 0.95 * rv[i] + 0.05 * Double(g[i]) * Double(g[i])
                    let mh = rm[i] / (1 - pow(0.9, Double(step))), vh = rv[i] / (1 - pow(0.95, Double(step)))
                    rp[i] -= 1e-2 * mh / (vh.squareRoot() + 1e-8)
                }
            }
            for i in 0..<n { XCTAssertEqual(Double(p[i]), rp[i], accuracy: 1e-6) }
            // The zeroing variant updates identically and leaves the gradients at 0.
            var pz = values(n, seed: 1), mz = [Float](repeating: 0, count: n), vz = [Float](repeating: 0, count: n)
            var p1 = pz, m1 = mz, v1 = vz, g1 = g
            adamWUpdate(params: &p1, grads: &g1, m: &m1, v: &v1, count: n, learningRate: 1e-2, beta1: 0.9, beta2: 0.95,
                        epsilon: 1e-8, weightDecay: 0.1, step: 1)
            adamWUpdate(params: &pz, grads: &g, m: &mz, v: &vz, count: n, learningRate: 1e-2, beta1: 0.9, beta2: 0.95,
                        epsilon: 1e-8, weightDecay: 0.1, step: 1, zeroingGradients: true)
            XCTAssertEqual(pz, p1, "\(path)")
            XCTAssertEqual(g, [Float](repeating: 0, count: n), "\(path)")
        }
    }

    func testBLASThreadsSetting() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        BLAS.setThreads(1)
        XCTAssertEqual(BLAS.threads, 1)
        BLAS.setThreads(2)
        XCTAssertEqual(BLAS.threads, 2)
        BLAS.setThreads(0)
        XCTAssertEqual(BLAS.threads, 1)
    }
}

private struct UncheckedBox: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int>
    init(_ pointer: UnsafeMutablePointer<Int>) { self.pointer = pointer }
}
