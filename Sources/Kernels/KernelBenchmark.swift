#if canImport(Glibc)
import Glibc
#endif

/// Per-FLOP cost of attention against the dense layers at one layer's shapes: each part runs its
/// forward and backward passes on random data, and the median time gives GFLOP/s. Attention is counted
/// as PyTorch's eager attention computes it, the full T×T (4·B·T²·C forward, twice that backward).
public struct KernelBenchmark: Sendable, CustomStringConvertible {
    /// One timed part: its counted FLOPs and median seconds per forward + backward.
    public struct Part: Sendable {
        public let name: String
        public let flops: Double
        public let medianSeconds: Double
        public var gflopsPerSecond: Double { flops / medianSeconds / 1e9 }
    }

    public let parts: [Part]

    public var description: String {
        parts.map { p in
            let name = p.name + String(repeating: " ", count: max(0, 34 - p.name.count))
            let ms = fixed(p.medianSeconds * 1000, 2), g = fixed(p.gflopsPerSecond, 1)
            return "  \(name) ms=\(ms)  GFLOP/s=\(g)"
        }.joined(separator: "\n")
    }

    /// Times the dense matmuls of one layer and attention, forward + backward, `steps` times each.
    /// With `cpuTime`, parts are timed by the process's CPU time instead of the wall clock: on a busy
    /// machine and with one thread, that still measures the work itself.
    public static func run(batch: Int, sequence: Int, channels: Int, heads: Int, steps: Int,
                           cpuTime: Bool = false) -> KernelBenchmark {
        let rows = batch * sequence, c = channels
        func buffer(_ n: Int, _ seed: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            for i in 0..<n { p[i] = Float((i &* 7919 &+ seed &* 104_729) % 2001 - 1000) / 4000 }
            return p
        }
        let x = buffer(rows * 4 * c, 1), w = buffer(16 * c * c, 2), y = buffer(rows * 4 * c, 3)
        let dx = buffer(rows * 4 * c, 4), dw = buffer(16 * c * c, 5), dy = buffer(rows * 4 * c, 6)
        let qkv = buffer(rows * 3 * c, 7), dqkv = buffer(rows * 3 * c, 8)
        let maps = buffer(batch * heads * sequence * sequence, 9), scratch = buffer(max(2, BLAS.threads) * sequence * sequence, 10)
        defer { for p in [x, w, y, dx, dw, dy, qkv, dqkv, maps, scratch] { p.deallocate() } }
        let dense: [(Int, Int)] = [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)]
        let denseFlops = dense.reduce(0.0) { $0 + 6 * Double(rows) * Double($1.0 * $1.1) }
        let denseTime = median(steps, cpuTime) {
            for (inDim, outDim) in dense {
                matmulForward(out: y, inp: x, weight: w, bias: nil, rows: rows, inDim: inDim, outDim: outDim)
                matmulBackward(dinp: dx, dweight: dw, dbias: nil, dout: dy, inp: x, weight: w,
                               rows: rows, inDim: inDim, outDim: outDim)
            }
        }
        let attentionFlops = 12 * Double(batch) * Double(sequence * sequence) * Double(c)
        let attentionTime = median(steps, cpuTime) {
            attentionForward(out: y, att: maps, keepMaps: true, qkv: qkv, batch: batch, seq: sequence, channels: c, heads: heads)
            attentionBackward(dqkv: dqkv, dout: dy, qkv: qkv, att: maps, scratch: scratch, scratchMaps: max(2, BLAS.threads),
                              batch: batch, seq: sequence, channels: c, heads: heads)
        }
        return KernelBenchmark(parts: [
            Part(name: "dense layer matmuls (fwd + bwd)", flops: denseFlops, medianSeconds: denseTime),
            Part(name: "attention, full T x T (fwd + bwd)", flops: attentionFlops, medianSeconds: attentionTime),
        ])
    }

    private func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return "\(rounded)"
    }

    private static func median(_ steps: Int, _ cpuTime: Bool, _ body: () -> Void) -> Double {
        body()
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
