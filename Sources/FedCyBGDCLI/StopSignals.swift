#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGTERM and SIGUSR1 ask the run to stop cleanly: rank 0 finishes the round in flight, writes
/// a checkpoint, stops the clients and exits with `StopSignals.exitCode`.
///
/// Client ranks install the same handler so that a signal sent to every rank (as `srun` does)
/// does not kill them mid-round; they stop when rank 0 tells them to.
///
/// During set-up (from `install` to `setUpFinished`: reading the job, loading and tokenising the
/// corpus, loading the model or checkpoint), nothing has been written to the run folder and there
/// is no round to finish, so a signal ends the process at once with the same status.
enum StopSignals {
    /// Exit status of a run that stopped on a signal after writing its checkpoint, or during
    /// set-up before writing anything (EX_TEMPFAIL: "try again", which is what resuming does).
    static let exitCode: Int32 = 75

    private static let received = Atomic<Int32>(0)
    private static let inSetUp = Atomic<Bool>(false)
    private static let reports = Atomic<Bool>(false)
    private static let setUpMessage: StaticString =
        "fedcybgd: stopped on signal during set-up, before any run file was written; run the same command again to start\n"

    /// Installs the handler, in set-up mode; `reporting` ranks print a line when a signal ends set-up.
    static func install(reporting: Bool = true) {
        reports.store(reporting, ordering: .relaxed)
        inSetUp.store(true, ordering: .relaxed)
        for signal in [SIGTERM, SIGUSR1] {
            _ = Glibc.signal(signal) { number in
                if StopSignals.inSetUp.load(ordering: .relaxed) {
                    // Only async-signal-safe calls here: write(2) and _exit(2).
                    if StopSignals.reports.load(ordering: .relaxed) {
                        StopSignals.setUpMessage.withUTF8Buffer { _ = write(2, $0.baseAddress, $0.count) }
                    }
                    // What this start made (the lock file, then its folders), so it leaves nothing behind.
                    if let file = StopSignals.madeFile { unlink(file) }
                    for index in 0..<StopSignals.madeFolderCount { if let folder = StopSignals.madeFolders[index] { rmdir(folder) } }
                    _exit(StopSignals.exitCode)
                }
                StopSignals.received.store(number, ordering: .relaxed)
            }
        }
    }

    /// The lock file and folders a start made, removed by a signal during set-up. Set before
    /// the signal can need them and never freed (a few bytes), so the handler reads only
    /// memory that stays valid.
    nonisolated(unsafe) private static var madeFile: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var madeFolders = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 64)
    nonisolated(unsafe) private static var madeFolderCount = 0

    /// Registers what taking the run folder's lock created (innermost folder last).
    static func removeOnSetUpSignal(file: String?, folders: [String]) {
        let saved = folders.reversed().prefix(64).map { strdup($0) }
        for (index, folder) in saved.enumerated() { madeFolders[index] = folder }
        madeFolderCount = saved.count
        madeFile = file.map { strdup($0) }
    }

    /// Called just before the first file of the run is written: from now on a signal is noted
    /// and honoured after the round in flight.
    static func setUpFinished() {
        inSetUp.store(false, ordering: .relaxed)
    }

    /// The signal that asked to stop, or nil.
    static var requested: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
