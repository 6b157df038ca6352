/// What rank 0 tells every rank at the start of a round, ahead of the download. What a client
/// rank cannot work out alone is which round comes, if any: a resumed run goes on after the
/// checkpoint's round, which only rank 0 reads, and only rank 0 decides when the run ends (its last
/// round, a stop signal, nothing left to do). The rest follows from the round (`CycleSchedule` is
/// a pure function of it) and travels too, a few bytes, so the client ranks train the plan rank 0
/// made (`CycleSchedule.plan(for:)`) instead of a second computation of it.
public struct RoundHeader: Equatable, Sendable {
    /// 1-based; 0 with `finished` set tells the client ranks to stop.
    public var round: Int
    public var target: RoundTarget
    public var clients: [Int]
    public var learningRate: Float
    public var finished: Bool

    static let magic: UInt32 = 0x4643_4244 // "FCBD"

    public init(round: Int, target: RoundTarget, clients: [Int], learningRate: Float, finished: Bool) {
        self.round = round; self.target = target; self.clients = clients
        self.learningRate = learningRate; self.finished = finished
    }

    public static func stop() -> RoundHeader {
        RoundHeader(round: 0, target: .block(0), clients: [], learningRate: 0, finished: true)
    }
}
