/// Everything about one round that follows from the job and the seed, made once by the
/// schedule (`CycleSchedule.plan(round:)`) and read by the server, the client hosts, local
/// training, the round's record and the observers.
public struct RoundPlan: Equatable, Sendable {
    /// 1-based round and cycle.
    public let round: Int
    public let cycle: Int
    public let target: RoundTarget
    /// The clients that train, in aggregation order.
    public let clients: [Int]
    public let learningRate: Float
    /// The units (`FederatedModel`) the clients train: ascending and contiguous.
    public let trainedUnits: [Int]
    /// The units the clients run: every unit but the blocks of the dropped layers.
    public let neededUnits: [Int]
    /// The 0-based transformer layers the clients skip (FedCyBGD's layer dropping).
    public let droppedLayers: Set<Int>

    public init(round: Int, cycle: Int, target: RoundTarget, clients: [Int], learningRate: Float,
                trainedUnits: [Int], neededUnits: [Int], droppedLayers: Set<Int>) {
        self.round = round; self.cycle = cycle; self.target = target; self.clients = clients
        self.learningRate = learningRate; self.trainedUnits = trainedUnits; self.neededUnits = neededUnits
        self.droppedLayers = droppedLayers
    }

    /// What the round broadcast's header says of this plan.
    public var header: RoundHeader {
        RoundHeader(round: round, target: target, clients: clients, learningRate: learningRate, finished: false)
    }
}
