import Foundation

/// The pause between two polls of an unfinished MPI request: none for the first `spin`
/// microseconds of a wait (a reply that is already on its way costs no sleep), then sleeps
/// doubling from the policy's `firstSleep` up to `cap`.
///
/// A sleep overshoots by Linux's timer slack (50 µs) and each hop of a message over TCP (the
/// rendezvous of a large send: request, clear-to-send, data) waits for the next poll on one side,
/// so without the spin a 0.2 MB upload between two hosts took three times as long as plain MPI.
struct MPIBackoff {
    private var sleep: UInt32
    private let cap: UInt32
    private let spinUntil: UInt64

    init(policy: MPIWaitPolicy, cap: UInt32) {
        sleep = policy.firstSleep
        self.cap = cap
        spinUntil = DispatchTime.now().uptimeNanoseconds + UInt64(policy.spin) * 1000
    }

    /// Returns at once while spinning, else sleeps and lengthens the next sleep.
    mutating func pause() {
        if DispatchTime.now().uptimeNanoseconds < spinUntil { return }
        usleep(sleep)
        sleep = min(sleep &* 2, cap)
    }
}
