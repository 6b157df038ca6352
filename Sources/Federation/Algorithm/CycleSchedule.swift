import GPT

/// The schedule of a run: which block each round trains (a block set visited once per cycle,
/// in a block order), which clients train it (the client selection), at which learning rate,
/// and so each round's `RoundPlan`. It holds no state: everything follows from the round, the
/// seed and the job, so every rank and every resumed run agrees, and an analysis script can
/// recompute any round without replaying the ones before it.
public struct CycleSchedule: Sendable {
    public let settings: FederationSettings
    /// The blocks one cycle visits, ascending.
    public let blocks: [Int]
    public let clientCount: Int
    private let layout: ParameterLayout

    public init(settings: FederationSettings, clientCount: Int) {
        precondition(clientCount > 0 && (1...clientCount).contains(settings.clientsPerRound),
                     "cannot pick \(settings.clientsPerRound) of \(clientCount) clients")
        self.settings = settings
        self.blocks = settings.blockSet.blocks(layers: settings.model.layers)
        self.clientCount = clientCount
        self.layout = ParameterLayout(config: settings.model)
        precondition(!blocks.isEmpty, "the block set \(settings.blockSet.rawValue) of a \(settings.model.layers)-layer model is empty")
    }

    /// Rounds per cycle: the blocks a cycle visits.
    public var cycleLength: Int { blocks.count }

    /// The 1-based cycle that 1-based `round` belongs to.
    public func cycle(ofRound round: Int) -> Int { (round - 1) / cycleLength + 1 }

    /// Whether the round is the last of its cycle, when the evaluation falls due.
    public func endsCycle(_ round: Int) -> Bool { round % cycleLength == 0 }

    /// The blocks of 1-based cycle `cycle`, in visiting order.
    public func order(ofCycle cycle: Int) -> [Int] {
        settings.blockOrder.order(cycle: cycle, seed: settings.seed, blocks: blocks)
    }

    /// The block the round visits in the cycle (what it trains, for the one-block algorithms).
    public func block(ofRound round: Int) -> Int {
        order(ofCycle: cycle(ofRound: round))[(round - 1) % cycleLength]
    }

    /// The k clients of the round, in aggregation order.
    public func clients(ofRound round: Int) -> [Int] {
        settings.clientSelection.clients(round: round, count: clientCount, k: settings.clientsPerRound, seed: settings.seed)
    }

    /// The round's plan, as the server makes it.
    public func plan(round: Int) -> RoundPlan {
        plan(round: round, target: settings.algorithm.target(block: block(ofRound: round)),
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
        /// The block order of the current cycle.
        public var blockOrder: [Int]

        public init(round: Int, cycle: Int, blockOrder: [Int]) {
            self.round = round; self.cycle = cycle; self.blockOrder = blockOrder
        }
    }

    private func plan(round: Int, target: RoundTarget, clients: [Int], learningRate: Float) -> RoundPlan {
        let units = layout.blockCount + (settings.algorithm == .fedlora ? 1 : 0)
        let trained: [Int]
        switch target {
        case let .block(block): trained = [block]
        case .allBlocks: trained = Array(0..<layout.blockCount)
        case .adapters: trained = [layout.blockCount]
        }
        var dropped: Set<Int> = []
        if case let .block(block) = target, settings.layerDrop.fraction > 0 {
            dropped = settings.layerDrop.droppedLayers(activeBlock: block, layout: layout)
        }
        let skipped = Set(dropped.map(layout.block(ofLayer:)))
        return RoundPlan(round: round, cycle: cycle(ofRound: round), target: target, clients: clients,
                         learningRate: learningRate, trainedUnits: trained,
                         neededUnits: (0..<units).filter { !skipped.contains($0) }, droppedLayers: dropped)
    }
}
