/// Which block and which clients each round trains: blocks in ascending cycle order, clients in turn.
public struct CycleSchedule: Sendable, Equatable {
    public let blockCount: Int
    public let clientCount: Int
    public let clientsPerRound: Int

    public init(blockCount: Int, clientCount: Int, clientsPerRound: Int) {
        precondition(blockCount > 0 && clientCount > 0 && (1...clientCount).contains(clientsPerRound))
        self.blockCount = blockCount
        self.clientCount = clientCount
        self.clientsPerRound = clientsPerRound
    }

    /// The 1-based cycle that 1-based `round` belongs to.
    public func cycle(ofRound round: Int) -> Int { (round - 1) / blockCount + 1 }

    /// The block the round trains.
    public func block(ofRound round: Int) -> Int { (round - 1) % blockCount }

    /// Whether the round is the last of its cycle, when the evaluation falls due.
    public func endsCycle(_ round: Int) -> Bool { round % blockCount == 0 }

    /// The next k clients after the previous round's, wrapping around, so every client is used in turn.
    public func clients(ofRound round: Int) -> [Int] {
        let first = (round - 1) * clientsPerRound
        return (0..<clientsPerRound).map { (first + $0) % clientCount }
    }
}
