/// How much of a run's wall time its client ranks spent computing (training their clients):
/// the client ranks' `rankComputeSeconds` summed over the rounds of this start, divided by
/// (number of client ranks × the wall time of this start). The client ranks are ranks 1..P-1,
/// or rank 0 itself in a one-rank run; an unmeasured (NaN) entry counts as no compute. Every
/// client rank computes only inside rounds, so the fraction lies in [0, 1]; what it misses of 1
/// is communication, waiting for the server and the other ranks, and the run's start and end.
public struct ClientComputeShare: Sendable, Equatable {
    /// Ranks of the run (P).
    public let ranks: Int
    /// Compute seconds of the client ranks, summed over ranks and rounds.
    public private(set) var computeSeconds = 0.0
    public private(set) var rounds = 0

    public init(ranks: Int) { self.ranks = max(ranks, 1) }

    /// The ranks hosting clients: P - 1, or 1 at P = 1.
    public var clientRanks: Int { max(ranks - 1, 1) }

    public mutating func add(_ record: RoundRecord) {
        let columns = ranks == 1 ? 0..<1 : 1..<ranks
        for rank in columns where rank < record.rankComputeSeconds.count && !record.rankComputeSeconds[rank].isNaN {
            computeSeconds += record.rankComputeSeconds[rank]
        }
        rounds += 1
    }

    /// The fraction for a start that took `wallSeconds`; -1 (not measured) before any round.
    public func fraction(wallSeconds: Double) -> Double {
        guard rounds > 0, wallSeconds > 0 else { return -1 }
        return computeSeconds / (Double(clientRanks) * wallSeconds)
    }
}
