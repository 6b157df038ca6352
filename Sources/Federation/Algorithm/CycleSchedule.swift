/// Which block and which clients each round trains: the block plan (which blocks, in which order
/// each cycle) and the client selection, both drawn from the seed alone so every rank and every
/// resumed run agrees.
public struct CycleSchedule: Sendable, Equatable {
    public let plan: BlockPlan
    public let selection: ClientSelection
    public let clientCount: Int
    public let clientsPerRound: Int
    public let seed: UInt64

    /// Every block in ascending order, clients in turn: the defaults.
    public init(blockCount: Int, clientCount: Int, clientsPerRound: Int) {
        self.init(plan: BlockPlan(set: .all, order: .ascending, layers: blockCount - 2, seed: 0),
                  selection: .cyclic, clientCount: clientCount, clientsPerRound: clientsPerRound, seed: 0)
    }

    public init(settings: FederationSettings, clientCount: Int) {
        self.init(plan: BlockPlan(set: settings.blockSet, order: settings.blockOrder, layers: settings.model.layers,
                                  seed: settings.seed),
                  selection: settings.clientSelection, clientCount: clientCount,
                  clientsPerRound: settings.clientsPerRound, seed: settings.seed)
    }

    public init(plan: BlockPlan, selection: ClientSelection, clientCount: Int, clientsPerRound: Int, seed: UInt64) {
        precondition(plan.cycleLength > 0 && clientCount > 0 && (1...clientCount).contains(clientsPerRound))
        self.plan = plan
        self.selection = selection
        self.clientCount = clientCount
        self.clientsPerRound = clientsPerRound
        self.seed = seed
    }

    /// Rounds per cycle: the blocks a cycle visits.
    public var cycleLength: Int { plan.cycleLength }

    /// The 1-based cycle that 1-based `round` belongs to.
    public func cycle(ofRound round: Int) -> Int { plan.cycle(ofRound: round) }

    /// The block the round trains.
    public func block(ofRound round: Int) -> Int { plan.block(ofRound: round) }

    /// The block order of a cycle.
    public func order(ofCycle cycle: Int) -> [Int] { plan.order(ofCycle: cycle) }

    /// Whether the round is the last of its cycle, when the evaluation falls due.
    public func endsCycle(_ round: Int) -> Bool { plan.endsCycle(round) }

    /// The k clients of the round, in aggregation order.
    public func clients(ofRound round: Int) -> [Int] {
        selection.clients(round: round, count: clientCount, k: clientsPerRound, seed: seed)
    }
}
