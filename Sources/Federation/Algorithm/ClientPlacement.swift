/// Which rank hosts which virtual client: rank 0 is the server, and clients go round robin
/// over ranks 1..P-1, so a job may have far more clients than ranks. With one rank, rank 0
/// hosts every client itself.
public struct ClientPlacement: Sendable, Equatable {
    public let ranks: Int

    public init(ranks: Int) {
        precondition(ranks >= 1)
        self.ranks = ranks
    }

    public func host(of client: Int) -> Int {
        ranks == 1 ? 0 : 1 + client % (ranks - 1)
    }

    public func hostsClients(rank: Int) -> Bool {
        ranks == 1 ? rank == 0 : rank > 0
    }
}
