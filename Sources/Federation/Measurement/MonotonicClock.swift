/// Seconds on a monotonic clock (the standard library's `SuspendingClock`, which does not count
/// time the machine sleeps), for intervals: round times, rank time splits, the ETA.
public enum MonotonicClock {
    private static let origin = SuspendingClock.now

    /// Seconds since the first call in this process.
    public static func now() -> Double {
        let elapsed = origin.duration(to: SuspendingClock.now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }
}
