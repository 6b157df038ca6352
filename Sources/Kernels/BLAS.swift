import CBLAS

/// OpenBLAS's thread pool, and thin typed wrappers around `cblas_sgemm`.
public enum BLAS {
    /// Sets how many threads OpenBLAS uses for each call (at least 1).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// How many threads OpenBLAS uses for each call.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The OpenBLAS build and the kernel family it picked for this CPU.
    public static var configuration: String { "\(buildConfiguration) (core \(coreName))" }

    /// OpenBLAS's `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
    public static var buildConfiguration: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// The kernel set OpenBLAS loaded, `openblas_get_corename()`: "Haswell", "SkylakeX", "Prescott", …
    /// A DYNAMIC_ARCH build decides it once, when the library loads, from the CPU model or from
    /// `OPENBLAS_CORETYPE` (docs/PERFORMANCE.md, "OpenBLAS and the CPU").
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}

/// `sgemm` split across `BLAS.threads` workers, each calling single-threaded OpenBLAS on a slice of
/// C's rows (or columns, when C is wider than tall), in multiples of 16. Small problems run as one call.
public func parallelSgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let splitRows = m >= n
    let blocks = ((splitRows ? m : n) + 15) / 16
    let small = m * n * k < 1 << 18
    Parallel.forRangesCallingBLAS(small ? 1 : blocks) { _, range in
        if small {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else if splitRows {
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
