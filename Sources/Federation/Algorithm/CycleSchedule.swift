import GPT

/// The schedule of a run: which block each round trains (a block set visited once per cycle,
/// in a block order; with `train.embedding_shards` the embeddings' shards are visited one by one,
/// each in its own place in the order), which clients train it (the client selection), at which learning rate,
/// and so each round's `RoundPlan`. It holds no state: everything follows from the round, the
/// seed and the job, so every rank and every resumed run agrees, and an analysis script can
/// recompute any round without replaying the ones before it.
public struct CycleSchedule: Sendable {
    public let settings: FederationSettings
    /// The units (`ModelUnits`) one cycle visits, ascending: the block set's blocks, the
    /// embeddings as their shards. With one embedding unit these are the blocks themselves.
    public let visits: [Int]
    public let clientCount: Int
    private let layout: ParameterLayout
    /// How the model is cut into units.
    public let units: ModelUnits

    public init(settings: FederationSettings, clientCount: Int) {
        precondition(clientCount > 0 && (1...clientCount).contains(settings.clientsPerRound),
                     "cannot pick \(settings.clientsPerRound) of \(clientCount) clients")
        self.settings = settings
        self.clientCount = clientCount
        self.layout = ParameterLayout(config: settings.model)
        self.units = ModelUnits(settings: settings)
        self.visits = settings.blockSet.blocks(layers: settings.model.layers).flatMap { [units] in units.units(ofBlock: $0) }
        precondition(!visits.isEmpty, "the block set \(settings.blockSet.rawValue) of a \(settings.model.layers)-layer model is empty")
    }

    /// Rounds per cycle: the units a cycle visits.
    public var cycleLength: Int { visits.count }

    /// Rounds per cycle of a run with these options, before its model is built (a job's
    /// `train.cycles`): one visit per block of the set, the embeddings' once per shard.
    public static func cycleLength(layers: Int, blockSet: BlockSet, embeddingShards: Int) -> Int {
        blockSet.blocks(layers: layers).reduce(0) { $0 + ModelUnits.unitCount(ofBlock: $1, embeddingShards: embeddingShards) }
    }

    /// The 1-based cycle that 1-based `round` belongs to.
    public func cycle(ofRound round: Int) -> Int { (round - 1) / cycleLength + 1 }

    /// Whether the round is the last of its cycle, when the evaluation falls due.
    public func endsCycle(_ round: Int) -> Bool { round % cycleLength == 0 }

    /// The units of 1-based cycle `cycle`, in visiting order (blocks, with one embedding unit).
    public func order(ofCycle cycle: Int) -> [Int] {
        settings.blockOrder.order(cycle: cycle, seed: settings.seed, blocks: visits)
    }

    /// The unit the round visits in the cycle (what it trains, for the one-block algorithms).
    public func unit(ofRound round: Int) -> Int {
        order(ofCycle: cycle(ofRound: round))[(round - 1) % cycleLength]
    }

    /// The block the round visits in the cycle.
    public func block(ofRound round: Int) -> Int { units.block(ofUnit: unit(ofRound: round)) }

    /// The k clients of the round, in aggregation order.
    public func clients(ofRound round: Int) -> [Int] {
        // Only a schedule that trains one block per round can tie blocks to clients.
        settings.clientSelection.clients(round: round, count: clientCount, k: settings.clientsPerRound, seed: settings.seed,
                                         cycleLength: settings.algorithm.trainsOneBlock ? cycleLength : 1)
    }

    /// The blocks that within the first `rounds` rounds never train with some client although
    /// the default block order and client selection (ascending, cyclic) would give them every
    /// client in as many rounds: those a chosen `train.block_order` or `train.client_selection`
    /// still ties to some clients. Empty with the defaults, and for the algorithms whose every
    /// round trains every block.
    public func blocksTiedToClients(rounds: Int) -> [Int] {
        guard settings.algorithm.trainsOneBlock, settings.blockOrder != .ascending || settings.clientSelection != .cyclic,
              (rounds / cycleLength + 1) * settings.clientsPerRound >= clientCount else { return [] }
        var defaults = settings
        defaults.blockOrder = .ascending
        defaults.clientSelection = .cyclic
        let tied = CycleSchedule(settings: defaults, clientCount: clientCount).unitsMeetingEveryClient(rounds: rounds)
            .subtracting(unitsMeetingEveryClient(rounds: rounds))
        return Set(tied.map(units.block(ofUnit:))).sorted()
    }

    /// The units that train with every client within the first `rounds` rounds.
    func unitsMeetingEveryClient(rounds: Int) -> Set<Int> {
        var met: [Int: Set<Int>] = [:]
        for round in stride(from: 1, through: rounds, by: 1) { met[unit(ofRound: round), default: []].formUnion(clients(ofRound: round)) }
        return Set(met.filter { $0.value.count == clientCount }.keys)
    }

    /// The round's plan, as the server makes it.
    public func plan(round: Int) -> RoundPlan {
        plan(round: round, target: settings.algorithm.target(visiting: units.target(ofUnit: unit(ofRound: round))),
             clients: clients(ofRound: round), learningRate: settings.learningRate(round: round))
    }

    /// The plan a client rank reads from a round's broadcast header.
    public func plan(for header: RoundHeader) -> RoundPlan {
        plan(round: header.round, target: header.target, clients: header.clients, learningRate: header.learningRate)
    }

    /// Where the schedule stands after `round` rounds, for a checkpoint.
    public func state(afterRound round: Int) -> State {
        State(round: round, cycle: round == 0 ? 0 : cycle(ofRound: round),
              blockOrder: order(ofCycle: max(cycle(ofRound: max(round, 1)), 1)))
    }

    /// What a checkpoint records of the schedule. Nothing of it is needed to resume (the schedule
    /// is a function of the round); it is there for readers of the checkpoint.
    public struct State: Sendable, Equatable {
        /// Rounds completed.
        public var round: Int
        /// The current cycle (0 before the first round).
        public var cycle: Int
        /// The visiting order of the current cycle, as units (blocks, with one embedding unit).
        public var blockOrder: [Int]

        public init(round: Int, cycle: Int, blockOrder: [Int]) {
            self.round = round; self.cycle = cycle; self.blockOrder = blockOrder
        }
    }

    private func plan(round: Int, target: RoundTarget, clients: [Int], learningRate: Float) -> RoundPlan {
        var dropped: Set<Int> = []
        if let block = target.block, settings.layerDrop.fraction > 0 {
            dropped = settings.layerDrop.droppedLayers(activeBlock: block, layout: layout)
        }
        let skipped = Set(dropped.flatMap { units.units(ofBlock: layout.block(ofLayer: $0)) })
        return RoundPlan(round: round, cycle: cycle(ofRound: round), target: target, clients: clients,
                         learningRate: learningRate, trainedUnits: units.units(of: target),
                         neededUnits: (0..<units.count).filter { !skipped.contains($0) }, droppedLayers: dropped)
    }
}
