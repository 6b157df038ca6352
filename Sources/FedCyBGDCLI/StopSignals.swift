#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGTERM and SIGUSR1 ask the run to stop cleanly: rank 0 finishes the round in flight, writes
/// a checkpoint, stops the clients and exits with `StopSignals.exitCode`.
///
/// Client ranks install the same handler so that a signal sent to every rank (as `srun` does)
/// does not kill them mid-round; they stop when rank 0 tells them to.
enum StopSignals {
    /// Exit status of a run that stopped on a signal after writing its checkpoint (EX_TEMPFAIL:
    /// "try again", which is what resuming does).
    static let exitCode: Int32 = 75

    private static let received = Atomic<Int32>(0)

    static func install() {
        for signal in [SIGTERM, SIGUSR1] {
            _ = Glibc.signal(signal) { number in StopSignals.received.store(number, ordering: .relaxed) }
        }
    }

    /// The signal that asked to stop, or nil.
    static var requested: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
