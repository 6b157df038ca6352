/// What the operating system says about this process: CPU time and peak memory. The adapter
/// `SystemProcessProbe` (target SystemMetrics) reads them from getrusage and /proc.
public protocol ProcessProbe: Sendable {
    /// User plus system CPU seconds used so far.
    func cpuSeconds() -> Double
    /// Peak resident set size of this process so far, in bytes; -1 when it cannot be measured.
    func peakRSSBytes() -> Int
}
