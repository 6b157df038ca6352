import CKernels

/// Splits independent work across `BLAS.threads` threads (the caller and pool.c's helpers), so one
/// knob sizes all the compute of a rank. The partition of 0..<count depends only on the worker count, and each index is
/// processed by exactly one worker, so results do not depend on scheduling.
///
/// OpenBLAS itself is only ever called single-threaded from inside `forRangesCallingBLAS`: its idle
/// pool threads spin (sched_yield) for about 0.1 s after every multi-threaded call, and on a small
/// machine they would steal the cores our own workers need. Splitting each sgemm ourselves reaches the
/// same GFLOP/s as OpenBLAS's threading on this model's shapes, and lets the elementwise kernels scale.
public enum Parallel {
    /// Calls `body(worker, range)` for `min(BLAS.threads, maxWorkers, count / minimumPerWorker)` workers,
    /// with contiguous, disjoint ranges covering 0..<count. Runs inline when that is one worker.
    @inline(__always)
    public static func forRanges(
        _ count: Int, maxWorkers: Int = .max, minimumPerWorker: Int = 1, _ body: (Int, Range<Int>) -> Void
    ) {
        let workers = min(BLAS.threads, maxWorkers, count / max(minimumPerWorker, 1))
        if workers <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        run(workers, count, body)
    }

    /// Like `forRanges`, for work that calls sgemm: OpenBLAS is set to one thread inside `body` (also
    /// when the work runs inline), so that it never wakes its own thread pool.
    public static func forRangesCallingBLAS(
        _ count: Int, maxWorkers: Int = .max, minimumPerWorker: Int = 1, _ body: (Int, Range<Int>) -> Void
    ) {
        let threads = BLAS.threads
        if threads > 1 { BLAS.setThreads(1) }
        defer { if threads > 1 { BLAS.setThreads(threads) } }
        let workers = min(threads, maxWorkers, count / max(minimumPerWorker, 1))
        if workers <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        run(workers, count, body)
    }

    /// Runs the workers on CKernels' pool (pool.c): the caller is worker 0, and helper threads that
    /// spin briefly between regions run the others, since a step opens about 200 regions back to back
    /// and Dispatch's workers, which sleep after each, had to be woken for every one (about 7 % of a
    /// step's time at the bench shape). The body only touches disjoint parts of raw buffers.
    private static func run(_ workers: Int, _ count: Int, _ body: (Int, Range<Int>) -> Void) {
        withoutActuallyEscaping(body) { escaping in
            var region = Region(body: escaping, count: count, workers: workers)
            withUnsafeMutablePointer(to: &region) { pointer in
                fk_pool_run(workers, { context, worker in
                    let region = context!.assumingMemoryBound(to: Region.self).pointee
                    let w = Int(worker)
                    region.body(w, (region.count * w / region.workers)..<(region.count * (w + 1) / region.workers))
                }, pointer)
            }
        }
    }
}

/// What a region's workers share: the body and the partition of 0..<count.
private struct Region {
    let body: (Int, Range<Int>) -> Void
    let count: Int
    let workers: Int
}
