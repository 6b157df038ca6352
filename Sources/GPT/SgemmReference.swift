import Kernels

/// Plain `cblas_sgemm` with OpenBLAS's own threading over a full training step's dense products:
/// the yardstick of the bench's `of_sgemm=`.
///
/// OpenBLAS's 2-thread sgemm changes speed from moment to moment on a shared machine
/// (`sgemm-modes.txt`, docs/PERFORMANCE.md), so a reference timed once, before all the cases, could
/// draw another rate than the steps. The bench therefore times sweeps right before and right after
/// each case's steps and divides by their median.
final class SgemmReference {
    let shapes: [TrainingBenchmark.MatmulShape]
    /// The FLOPs of one sweep: every shape `count` times, as a full step runs them.
    let flops: Double
    private let a, b, c: UnsafeMutablePointer<Float>

    init(config: GPTConfig, batch: Int, sequence: Int) {
        shapes = TrainingBenchmark.matmulShapes(config: config, batch: batch, sequence: sequence)
        flops = shapes.reduce(0) { $0 + $1.flops }
        let sizes = (a: shapes.map { $0.m * $0.k }.max() ?? 0, b: shapes.map { $0.k * $0.n }.max() ?? 0,
                     c: shapes.map { $0.m * $0.n }.max() ?? 0)
        a = .allocate(capacity: sizes.a); a.initialize(repeating: 0.01, count: sizes.a)
        b = .allocate(capacity: sizes.b); b.initialize(repeating: 0.02, count: sizes.b)
        c = .allocate(capacity: sizes.c); c.initialize(repeating: 0, count: sizes.c)
    }

    deinit { a.deallocate(); b.deallocate(); c.deallocate() }

    /// Seconds of one sweep with `threads` OpenBLAS threads: for each shape one untimed call, then
    /// its median call over `max(count, 3)` timed calls, times `count`. This is the standalone rate's
    /// measure (warm operands, the median call), taken next to the steps it is compared with.
    func sweepSeconds(threads: Int) -> Double {
        withThreads(threads) {
            shapes.reduce(0) { $0 + medianCallSeconds($1, calls: max($1.count, 3)) * Double($1.count) }
        }
    }

    /// Each shape timed on its own, median of repeated calls over at least `minSeconds`: the
    /// standalone figure of `fedcybgd bench --sgemm-only`. With `split`, each call is the engine's
    /// `parallelSgemm` (single-threaded OpenBLAS calls side by side) instead of OpenBLAS's threading.
    func standaloneRate(threads: Int, minSeconds: Double, split: Bool = false) -> Double {
        withThreads(threads) {
            var seconds = 0.0
            for shape in shapes {
                call(shape, split: split)
                var times: [Double] = [], spent = 0.0
                while times.count < 3 || (spent < minSeconds && times.count < 10_000) {
                    times.append(timedCall(shape, split: split))
                    spent += times[times.count - 1]
                }
                seconds += TrainingBenchmark.median(times) * Double(shape.count)
            }
            return flops / seconds
        }
    }

    /// Runs `body` with `threads` OpenBLAS threads, then stops OpenBLAS's thread pool (its idle threads
    /// spin for about 0.1 s after a call and would take the cores of the training steps that follow)
    /// and restores the thread count.
    private func withThreads<T>(_ threads: Int, _ body: () -> T) -> T {
        let previous = BLAS.threads
        BLAS.setThreads(threads)
        defer {
            BLAS.stopThreadPool()
            BLAS.setThreads(previous)
        }
        return body()
    }

    /// One untimed call, then the median of `calls` timed ones.
    private func medianCallSeconds(_ shape: TrainingBenchmark.MatmulShape, calls: Int) -> Double {
        call(shape, split: false)
        return TrainingBenchmark.median((0..<calls).map { _ in timedCall(shape, split: false) })
    }

    private func timedCall(_ shape: TrainingBenchmark.MatmulShape, split: Bool) -> Double {
        let start = TrainingBenchmark.now()
        call(shape, split: split)
        return TrainingBenchmark.now() - start
    }

    /// One product on the shared buffers: plain `cblas_sgemm`, or the engine's `parallelSgemm` with `split`.
    private func call(_ shape: TrainingBenchmark.MatmulShape, split: Bool) {
        let product = SgemmProblem(transA: shape.transA, transB: shape.transB, m: shape.m, n: shape.n, k: shape.k,
                                   a: a, lda: shape.transA ? shape.m : shape.k, b: b, ldb: shape.transB ? shape.k : shape.n,
                                   beta: 0, c: c, ldc: shape.n)
        if split { parallelSgemm(product) } else { product.runWithOpenBLASThreads() }
    }
}
