#if canImport(Glibc)
import Glibc
#endif

/// Kernel timings at one layer's shapes: the per-FLOP cost of attention against the dense layers,
/// and the element-wise kernels on every compiled path the CPU runs. Attention is counted as
/// PyTorch's eager attention computes it, the full T×T (4·B·T²·C forward, twice that backward).
public struct KernelBenchmark: Sendable, CustomStringConvertible {
    /// One timed part: its counted FLOPs (0 for memory-bound kernels) and median seconds.
    public struct Part: Sendable {
        public let name: String
        public let flops: Double
        public let medianSeconds: Double
        public var gflopsPerSecond: Double { flops / medianSeconds / 1e9 }
    }

    /// Dense matmuls and attention, forward + backward, on the path in use.
    public let parts: [Part]
    /// The element-wise kernels of one layer (and AdamW over its weights) on each path, keyed by path.
    public let elementwise: [(path: KernelPath, seconds: Double)]
    /// A Llama layer's element-wise kernels (RMSNorm, SwiGLU, RoPE, kv expansion) on each path, keyed by path.
    public let llamaElementwise: [(path: KernelPath, seconds: Double)]

    /// Median wall-clock seconds of one parallel region that does no work (the cost of waking and
    /// joining `BLAS.threads` workers), paid about 30 times per layer and step.
    public let parallelRegionSeconds: Double

    /// Attention's cost per counted FLOP relative to the dense layers' (≤ 1: no dearer than a matmul).
    public var attentionCostPerFlop: Double { parts[0].gflopsPerSecond / parts[1].gflopsPerSecond }

    public var description: String {
        var lines = parts.map { p in
            "  \(pad(p.name, 36)) ms=\(fixed(p.medianSeconds * 1000, 3))  GFLOP/s=\(fixed(p.gflopsPerSecond, 1))"
        }
        lines.append("  \(pad("empty parallel region", 36)) us=\(fixed(parallelRegionSeconds * 1e6, 1))")
        lines.append("  attention costs \(fixed(attentionCostPerFlop, 2))x the dense layers per FLOP taken apart "
                     + "(the target, at most 1, is for the training step: see fedcybgd bench)")
        let baseline = elementwise.first?.seconds ?? 1
        for (path, seconds) in elementwise {
            lines.append("  \(pad("element-wise kernels, \(path.rawValue) path", 36)) ms=\(fixed(seconds * 1000, 3))  "
                         + "speed-up over baseline=\(fixed(baseline / seconds, 2))")
        }
        let llamaBaseline = llamaElementwise.first?.seconds ?? 1
        for (path, seconds) in llamaElementwise {
            lines.append("  \(pad("Llama element-wise, \(path.rawValue) path", 36)) ms=\(fixed(seconds * 1000, 3))  "
                         + "speed-up over baseline=\(fixed(llamaBaseline / seconds, 2))")
        }
        return lines.joined(separator: "\n")
    }

    /// Times one layer's dense matmuls and attention on the current path, then the element-wise
    /// kernels (LayerNorm, GELU, residual adds, cross-entropy over a 256-wide vocabulary, AdamW) on
    /// each supported path, and a Llama layer's (RMSNorm, SwiGLU, RoPE, kv expansion). With `cpuTime`, parts are timed by the process's CPU time instead of the
    /// wall clock: on a busy machine and with one thread, that still measures the work itself.
    public static func run(batch: Int, sequence: Int, channels: Int, heads: Int, steps: Int,
                           cpuTime: Bool = false) -> KernelBenchmark {
        let buffers = Buffers(rows: batch * sequence, channels: channels, maps: batch * heads * sequence * sequence)
        defer { buffers.free() }
        let rows = batch * sequence, c = channels
        let dense: [(Int, Int)] = [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)]
        let denseFlops = dense.reduce(0.0) { $0 + 6 * Double(rows) * Double($1.0 * $1.1) }
        let b = buffers
        let attentionFlops = 12 * Double(batch) * Double(sequence * sequence) * Double(c)
        // Interleaved, repeat by repeat, so that both parts see the same machine.
        let (denseTime, attentionTime) = interleavedMedians(steps, cpuTime, {
            for (inDim, outDim) in dense {
                matmulForward(out: b.y, inp: b.x, weight: b.w, bias: nil, rows: rows, inDim: inDim, outDim: outDim)
                matmulBackward(dinp: b.dx, dweight: b.dw, dbias: nil, dout: b.dy, inp: b.x, weight: b.w,
                               rows: rows, inDim: inDim, outDim: outDim)
            }
        }, {
            attentionForward(out: b.y, att: b.maps, keepMaps: true, qkv: b.qkv, batch: batch, seq: sequence, channels: c, heads: heads)
            attentionBackward(dqkv: b.dqkv, dout: b.dy, qkv: b.qkv, att: b.maps, scratch: b.scratch, scratchMaps: 2,
                              batch: batch, seq: sequence, channels: c, heads: heads)
        })
        let chosen = KernelPath.current
        defer { KernelPath.select(chosen) }
        let elementwise = KernelPath.supported.map { path in
            KernelPath.select(path)
            return (path, median(steps, cpuTime) { elementwisePass(b, rows: rows, channels: c) })
        }
        let llama = LlamaShapes(batch: batch, sequence: sequence, channels: c, heads: heads)
        let llamaElementwise = KernelPath.supported.map { path in
            KernelPath.select(path)
            return (path, median(steps, cpuTime) { llamaElementwisePass(b, llama) })
        }
        let region = median(steps, false) {
            for _ in 0..<100 { Parallel.forRanges(1 << 20) { _, _ in } }
        } / 100
        return KernelBenchmark(parts: [
            Part(name: "dense layer matmuls (fwd + bwd)", flops: denseFlops, medianSeconds: denseTime),
            Part(name: "attention, full T x T (fwd + bwd)", flops: attentionFlops, medianSeconds: attentionTime),
        ], elementwise: elementwise, llamaElementwise: llamaElementwise, parallelRegionSeconds: region)
    }

    /// One layer's element-wise work, forward and backward, plus AdamW over 12·C² weights.
    private static func elementwisePass(_ b: Buffers, rows: Int, channels c: Int) {
        layerNormForward(out: b.y, mean: b.stats, rstd: b.stats + rows, inp: b.x, weight: b.w, bias: b.w + c,
                         rows: rows, dim: c, eps: 1e-5)
        layerNormBackward(dinp: b.dx, dweight: b.dw, dbias: b.dw + c, dout: b.dy, inp: b.x, weight: b.w,
                          mean: b.stats, rstd: b.stats + rows, rows: rows, dim: c)
        geluForward(out: b.y, inp: b.x, count: rows * 4 * c)
        geluBackward(dinp: b.dx, dout: b.dy, inp: b.x, count: rows * 4 * c)
        residualForward(out: b.y, b.x, b.dy, count: rows * c)
        _ = crossEntropy(logits: b.y, targets: b.targets, rows: rows, vocab: 256, gradientScale: 1 / Float(rows))
        adamWUpdate(params: b.w, grads: b.dw, m: b.m, v: b.v, count: 12 * c * c, learningRate: 1e-4,
                    beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, step: 1)
    }

    /// A Llama layer at the benchmark's width: half as many kv heads (when the head count is even), a SwiGLU
    /// hidden width of 2·C (so [gate | up] fits the 4·C buffers), RoPE when the head size is even.
    private struct LlamaShapes {
        let batch, sequence, channels, heads, kvHeads, headDim, hidden: Int
        let table: RotaryTable?

        init(batch: Int, sequence: Int, channels: Int, heads: Int) {
            (self.batch, self.sequence, self.channels, self.heads) = (batch, sequence, channels, heads)
            kvHeads = heads % 2 == 0 ? heads / 2 : heads
            headDim = channels / heads
            hidden = 2 * channels
            table = headDim % 2 == 0 ? RotaryTable(headDim: headDim, positions: sequence, theta: 500_000) : nil
        }
    }

    /// One Llama layer's element-wise work, forward and backward: two RMSNorms, SwiGLU, RoPE on q and k,
    /// and the grouped-query expansion with its gradient sum.
    private static func llamaElementwisePass(_ b: Buffers, _ s: LlamaShapes) {
        let rows = s.batch * s.sequence, c = s.channels
        for _ in 0..<2 {
            rmsNormForward(out: b.y, rstd: b.stats, inp: b.x, weight: b.w, rows: rows, dim: c, eps: 1e-5)
            rmsNormBackward(dinp: b.dx, dweight: b.dw, dout: b.dy, inp: b.x, weight: b.w, rstd: b.stats, rows: rows, dim: c)
        }
        swigluForward(out: b.y, gateUp: b.x, rows: rows, hidden: s.hidden)
        swigluBackward(dgateUp: b.dx, dout: b.dy, gateUp: b.x, rows: rows, hidden: s.hidden)
        let packedWidth = (s.heads + 2 * s.kvHeads) * s.headDim
        if let table = s.table {
            for inverse in [false, true] {
                ropeRotate(b.qkv, rowStride: packedWidth, firstColumn: 0, heads: s.heads + s.kvHeads, headDim: s.headDim,
                           batch: s.batch, seq: s.sequence, table: table, inverse: inverse)
            }
        }
        repeatKeyValues(expanded: b.dqkv, packed: b.qkv, rows: rows, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim)
        sumKeyValueGradients(packed: b.qkv, expanded: b.dqkv, rows: rows, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim)
    }

    /// The benchmark's buffers, filled with small deterministic values.
    private struct Buffers {
        let x, w, y, dx, dw, dy, qkv, dqkv, maps, scratch, stats, m, v: UnsafeMutablePointer<Float>
        let targets: UnsafeMutablePointer<Int32>

        init(rows: Int, channels c: Int, maps mapCount: Int) {
            func buffer(_ n: Int, _ seed: Int) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
                for i in 0..<n { p[i] = Float((i &* 7919 &+ seed &* 104_729) % 2001 - 1000) / 4000 }
                return p
            }
            let wide = rows * max(4 * c, 256)  // the MLP's 4·C, or the 256-wide logits when C < 64
            x = buffer(wide, 1); w = buffer(16 * c * c, 2); y = buffer(wide, 3)
            dx = buffer(wide, 4); dw = buffer(16 * c * c, 5); dy = buffer(wide, 6)
            qkv = buffer(wide, 7); dqkv = buffer(wide, 8)
            maps = buffer(mapCount, 9); scratch = buffer(2 * mapCount, 10); stats = buffer(2 * rows, 11)
            m = buffer(16 * c * c, 12); v = buffer(16 * c * c, 13)
            for i in 0..<(16 * c * c) { v[i] = abs(v[i]) }
            targets = .allocate(capacity: rows)
            for r in 0..<rows { targets[r] = Int32(r % 256) }
        }

        func free() {
            for p in [x, w, y, dx, dw, dy, qkv, dqkv, maps, scratch, stats, m, v] { p.deallocate() }
            targets.deallocate()
        }
    }

    private static func interleavedMedians(_ steps: Int, _ cpuTime: Bool, _ first: () -> Void,
                                           _ second: () -> Void) -> (Double, Double) {
        first()
        second()
        var a: [Double] = [], b: [Double] = []
        for _ in 0..<max(1, steps) {
            a.append(median(1, cpuTime, first, warm: false))
            b.append(median(1, cpuTime, second, warm: false))
        }
        return (a.sorted()[a.count / 2], b.sorted()[b.count / 2])
    }

    private static func median(_ steps: Int, _ cpuTime: Bool, _ body: () -> Void, warm: Bool = true) -> Double {
        if warm { body() }
        let clock = cpuTime ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC
        var times: [Double] = []
        for _ in 0..<max(1, steps) {
            let start = seconds(clock)
            body()
            times.append(seconds(clock) - start)
        }
        times.sort()
        return times[times.count / 2]
    }

    private static func seconds(_ clock: clockid_t) -> Double {
        var t = timespec()
        clock_gettime(clock, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

private func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }

private func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return "\((value * scale).rounded() / scale)"
}
