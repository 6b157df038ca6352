/// Where one rank's wall time went during one round, in seconds. `docs/RUN-FILES.md` defines
/// the three parts for the server and the client ranks.
public struct RankTimes: Sendable, Equatable {
    public var compute: Double
    public var communication: Double
    public var waiting: Double

    public init(compute: Double, communication: Double, waiting: Double) {
        self.compute = compute; self.communication = communication; self.waiting = waiting
    }
}
