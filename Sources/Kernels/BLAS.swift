import CBLAS

/// OpenBLAS's thread pool, and thin typed wrappers around `cblas_sgemm`.
public enum BLAS {
    /// Sets how many threads OpenBLAS uses for each call (at least 1).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// How many threads OpenBLAS uses for each call.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Stops OpenBLAS's own worker threads, which otherwise spin for about 0.1 s after every
    /// multi-threaded call; the next such call starts them again.
    public static func stopThreadPool() {
        blas_thread_shutdown_()
    }

    /// The OpenBLAS build and the kernel family it picked for this CPU.
    public static var configuration: String { "\(buildConfiguration) (core \(coreName))" }

    /// OpenBLAS's `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
    public static var buildConfiguration: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// The kernel set OpenBLAS loaded, `openblas_get_corename()`: "Haswell", "SkylakeX", "Prescott", …
    /// A DYNAMIC_ARCH build decides it once, when the library loads, from the CPU model or from
    /// `OPENBLAS_CORETYPE` (docs/PERFORMANCE.md, "OpenBLAS and the CPU").
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}

/// One row-major product `C = alpha * op(A) * op(B) + beta * C` (op(A) m x k, op(B) k x n), for
/// `parallelSgemm` and `parallelSgemmPair`.
public struct SgemmProblem {
    public let transA: Bool, transB: Bool
    public let m: Int, n: Int, k: Int
    public let alpha: Float
    public let a: UnsafePointer<Float>, lda: Int
    public let b: UnsafePointer<Float>, ldb: Int
    public let beta: Float
    public let c: UnsafeMutablePointer<Float>, ldc: Int

    public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        self.transA = transA; self.transB = transB; self.m = m; self.n = n; self.k = k; self.alpha = alpha
        self.a = a; self.lda = lda; self.b = b; self.ldb = ldb; self.beta = beta; self.c = c; self.ldc = ldc
    }

    /// The whole product as one `cblas_sgemm` call, threaded by OpenBLAS itself (`BLAS.threads`).
    public func runWithOpenBLASThreads() {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
              b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Below this many multiply-adds a product runs as one call: splitting it costs more than it saves.
    var isSmall: Bool { m * n * k < 1 << 18 }

    /// Slices of 16 along the split dimension: C's rows, or its columns when C is wider than tall
    /// (each slice re-packs the other operand, so the smaller one is the one packed twice).
    var slices: Int { isSmall ? 1 : ((m >= n ? m : n) + 15) / 16 }

    /// Runs slices `range` (of `slices`) with one single-threaded sgemm call. The slicing depends only
    /// on the worker count, so results are the same from run to run at a given thread count.
    func run(slices range: Range<Int>) {
        if range.isEmpty { return }
        if isSmall {
            runWithOpenBLASThreads()
        } else if m >= n {
            let r0 = range.lowerBound * 16, r1 = min(m, range.upperBound * 16)
            sgemm(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha,
                  a: transA ? a + r0 : a + r0 * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + r0 * ldc, ldc: ldc)
        } else {
            let c0 = range.lowerBound * 16, c1 = min(n, range.upperBound * 16)
            sgemm(transA: transA, transB: transB, m: m, n: c1 - c0, k: k, alpha: alpha, a: a, lda: lda,
                  b: transB ? b + c0 * ldb : b + c0, ldb: ldb, beta: beta, c: c + c0, ldc: ldc)
        }
    }
}

/// `sgemm` split across `BLAS.threads` workers, each calling single-threaded OpenBLAS on a slice of
/// C's rows (or columns, when C is wider than tall), in multiples of 16. Small problems run as one call.
public func parallelSgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    parallelSgemm(SgemmProblem(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                               b: b, ldb: ldb, beta: beta, c: c, ldc: ldc))
}

/// `parallelSgemm` of one `SgemmProblem`.
public func parallelSgemm(_ p: SgemmProblem) {
    Parallel.forRangesCallingBLAS(p.slices) { _, range in p.run(slices: range) }
}

/// Two independent products at once (a layer's input and weight gradients), the workers shared
/// between them: with 2 threads each product is one whole single-threaded call on its own core.
/// Splitting each product across all workers instead makes every worker pack the product's shared
/// operand again; two whole calls pack each operand once, which at this model's sizes is worth
/// about 2 % of a training step (docs/PERFORMANCE.md, "What makes it fast"). The bits are those of
/// `parallelSgemm` on the first product with `threads / 2` threads and on the second with the rest.
public func parallelSgemmPair(_ first: SgemmProblem, _ second: SgemmProblem) {
    let threads = BLAS.threads
    guard threads >= 2, !first.isSmall, !second.isSmall else {
        parallelSgemm(first)
        parallelSgemm(second)
        return
    }
    let firstWorkers = threads / 2, secondWorkers = threads - firstWorkers
    Parallel.forRangesCallingBLAS(threads) { worker, _ in
        if worker < firstWorkers {
            let n = first.slices
            first.run(slices: (n * worker / firstWorkers)..<(n * (worker + 1) / firstWorkers))
        } else {
            let n = second.slices, w = worker - firstWorkers
            second.run(slices: (n * w / secondWorkers)..<(n * (w + 1) / secondWorkers))
        }
    }
}

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`,
/// where op(A) is m x k and op(B) is k x n. Runs with OpenBLAS's own threading; the model's kernels
/// use `parallelSgemm` instead.
@inline(__always)
public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
