import CMPI
import Federation
import Foundation

/// How long a rank waits for a peer that sends nothing before it gives up on it, and what it
/// does then. Without a limit (the default) a wait lasts for ever, as a blocking MPI call does.
///
/// A host that loses its link (or freezes) leaves its ranks' TCP connections open and silent;
/// MPI notices nothing and rank 0 would wait for their uploads for ever. With a limit, every wait
/// of the transport (for a message, a send, a broadcast or a barrier) is timed, and the first
/// that outlasts it calls `onSilence` with the error naming the rank and its host, then throws it.
public struct MPISilenceLimit: Sendable {
    /// Seconds one wait may last.
    public var seconds: Double
    /// Called before the error is thrown; the training command ends the job here (`MPI_Abort`).
    public var onSilence: @Sendable (TransportError) -> Void

    public init(seconds: Double, onSilence: @escaping @Sendable (TransportError) -> Void = { _ in }) {
        self.seconds = seconds
        self.onSilence = onSilence
    }
}

/// One timed wait: started when the wait starts, checked on every unfinished poll.
struct SilenceWatch {
    let limit: MPISilenceLimit?
    /// The rank waited for, or nil for a collective.
    let peer: Int?
    let host: String?
    let waitingFor: String
    private let started = DispatchTime.now().uptimeNanoseconds

    init(limit: MPISilenceLimit?, peer: Int?, host: String?, waitingFor: @autoclosure () -> String) {
        self.limit = limit
        self.peer = peer
        self.host = host
        self.waitingFor = limit == nil ? "" : waitingFor()
    }

    /// Throws (after `onSilence`) once the wait has lasted longer than the limit.
    func check() throws {
        guard let limit else { return }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard waited > limit.seconds else { return }
        let error = TransportError.silent(rank: peer, host: host, seconds: limit.seconds, waitingFor: waitingFor)
        limit.onSilence(error)
        throw error
    }
}

extension MPIRuntime {
    /// Every rank's processor name (`MPI_Get_processor_name`, the host name), by rank; collective
    /// over `MPI_COMM_WORLD`.
    static func gatherProcessorNames(size: Int) throws -> [String] {
        let width = Int(MPI_MAX_PROCESSOR_NAME) + 1
        var mine = [CChar](repeating: 0, count: width)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&mine, &length), "MPI_Get_processor_name")
        var all = [CChar](repeating: 0, count: width * size)
        try check(MPI_Allgather(&mine, Int32(width), cmpi_byte(), &all, Int32(width), cmpi_byte(), cmpi_comm_world()),
                  "MPI_Allgather(processor names)")
        return (0..<size).map { rank in
            let slice = all[(rank * width)..<((rank + 1) * width)]
            return String(decoding: slice.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
