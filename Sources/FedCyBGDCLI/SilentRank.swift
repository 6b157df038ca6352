import Federation
import Foundation
import MPITransport

/// A rank that went silent during the rounds (its host died, froze or lost its link): rank 0
/// stops waiting for it after `server.round_timeout` seconds and ends the whole job with one
/// line and its own exit status, so a batch script can tell "a host is gone, resume elsewhere"
/// from a crash. The newest checkpoint is intact: checkpoints are written between waits, atomically.
enum SilentRank {
    /// The exit status of a job ended because a rank went silent (EX_UNAVAILABLE).
    static let exitCode: Int32 = 69

    /// Arms rank 0's transport with the job's time-out; the other ranks wait for rank 0 for ever
    /// (it may evaluate or checkpoint for long) and are ended by its `MPI_Abort`.
    static func watch(_ transport: MPITransport, seconds: Double, runFolder: String) {
        guard transport.rank == 0, transport.size > 1 else { return }
        transport.silenceLimit = MPISilenceLimit(seconds: seconds) { error in
            MPIRuntime.abort(message(error, seconds: seconds, runFolder: runFolder), code: exitCode, namingRank: false)
        }
    }

    /// The one line rank 0 prints.
    static func message(_ error: TransportError, seconds: Double, runFolder: String) -> String {
        "error: \(error) (server.round_timeout = \(Int(seconds.rounded())) s); ending the job. "
            + "The newest checkpoint in \(runFolder)/ is intact: resume on the remaining hosts with 'fedcybgd train <job> --resume' under mpirun or Slurm"
    }
}
