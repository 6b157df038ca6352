import Foundation

extension TrainingSession {
    /// What a start holds on rank 0 until its run is under way: the lock, and the files it made.
    final class Startup {
        var lock: RunLock?
        /// Files and folders this start created in the run folder (a fresh start's run files).
        var created: [String] = []
        /// Set once the run's files are in place: from then on a failure is the run's, not the start's.
        var running = false
        /// The run folder, once known (for a full disk's message).
        var runFolder: String?
        /// Set when the start continues a run from a checkpoint (a failure leaves that run as it was).
        var resuming = false

        /// After a failed start: removes what it created, then releases the lock (and the run
        /// folder, when the start made it and it is empty).
        func abandon() {
            for path in created.reversed() { try? FileManager.default.removeItem(atPath: path) }
            created = []
            lock?.abandon()
            lock = nil
        }
    }
}
