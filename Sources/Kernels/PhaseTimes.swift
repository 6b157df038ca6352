#if canImport(Glibc)
import Glibc
#endif

/// Opt-in wall-clock accounting of where a training step goes, for `fedcybgd bench`: the dense
/// layers (matmuls with their bias and residual, and the head) and attention. Off by default; a
/// clock read on each side of a kernel call when on.
public enum PhaseTimes {
    /// The parts of a step that are timed.
    public enum Phase: Int, CaseIterable, Sendable { case dense, attention }

    /// Whether kernels add their time. Set it from one thread, outside any step.
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var totals = [Double](repeating: 0, count: Phase.allCases.count)

    /// Seconds accumulated in `phase` since the last `reset()`.
    public static func seconds(_ phase: Phase) -> Double { totals[phase.rawValue] }

    /// Sets every phase back to zero.
    public static func reset() { totals = [Double](repeating: 0, count: Phase.allCases.count) }

    @inline(__always)
    static func time(_ phase: Phase, _ body: () -> Void) {
        guard enabled else { return body() }
        let start = now()
        body()
        totals[phase.rawValue] += now() - start
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
