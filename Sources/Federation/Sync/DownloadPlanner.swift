/// Decides what each round's broadcast carries and what each selected client is charged for:
/// delta sync, the frozen-unit codec, and the exact fp32 copy of the units being trained.
///
/// Versions are the round that last changed a unit (0: the initial model; -1: not held). The
/// client ranks' views all apply every broadcast, so one version per unit describes them; each
/// *virtual* client is charged as if it fetched what it lacks since its own last selection.
public struct DownloadPlanner: Sendable, Equatable {
    /// What a holder has of one unit: the version, and whether its copy is exact.
    public struct Copy: Sendable, Equatable {
        public var version: Int
        public var exact: Bool
        public static let none = Copy(version: -1, exact: false)
    }

    /// The round that last changed each unit.
    public private(set) var changedRound: [Int]
    /// What the client ranks' views hold of each unit.
    public private(set) var views: [Copy]
    /// What each virtual client holds of each unit: [client][unit].
    public private(set) var clients: [[Copy]]
    public let frozenEncoding: BlockEncoding

    public init(units: Int, clients clientCount: Int, frozenEncoding: BlockEncoding) {
        changedRound = Array(repeating: 0, count: units)
        views = Array(repeating: .none, count: units)
        clients = Array(repeating: Array(repeating: .none, count: units), count: clientCount)
        self.frozenEncoding = frozenEncoding
    }

    /// Restores the saved state of a checkpoint. The client ranks start empty after a restart, so
    /// views hold nothing: the first broadcast re-sends every needed unit. That rebuilds the views
    /// of the uninterrupted run exactly, because a view only ever holds a frozen unit's current
    /// version through the codec (a pure function of the values) and never an exact trained unit
    /// for long (`plan` marks trained units stale, since the hosts train them in place).
    public init(units: Int, clients clientCount: Int, frozenEncoding: BlockEncoding, state saved: State) {
        self.init(units: units, clients: clientCount, frozenEncoding: frozenEncoding)
        guard saved.changedRound.count == units else { return }
        changedRound = saved.changedRound
        if saved.clientVersions.count == clientCount, saved.clientVersions.allSatisfy({ $0.count == units }),
           saved.clientExact.count == clientCount {
            clients = (0..<clientCount).map { c in
                (0..<units).map { Copy(version: saved.clientVersions[c][$0], exact: saved.clientExact[c][$0]) }
            }
        }
    }

    /// What a checkpoint keeps of the planner: the round that last changed each unit, and what
    /// each virtual client holds of each unit ([client][unit]: version, and whether exact).
    public struct State: Sendable, Equatable {
        public var changedRound: [Int]
        public var clientVersions: [[Int]]
        public var clientExact: [[Bool]]
        public init(changedRound: [Int], clientVersions: [[Int]], clientExact: [[Bool]]) {
            self.changedRound = changedRound; self.clientVersions = clientVersions; self.clientExact = clientExact
        }
    }

    public var state: State {
        State(changedRound: changedRound, clientVersions: clients.map { $0.map(\.version) },
                   clientExact: clients.map { $0.map(\.exact) })
    }

    /// Records that `round` changed `unit`.
    public mutating func changed(unit: Int, round: Int) { changedRound[unit] = round }

    /// Plans one round: `needed` are the units the clients run this round (dropped layers left
    /// out), `trained` those they train. Returns the units to broadcast with their encodings and
    /// the bytes charged to each of `selected`; `size` gives a unit's encoded size on the wire.
    public mutating func plan(needed: [Int], trained: Set<Int>, selected: [Int],
                              size: (Int, BlockEncoding) -> Int) -> (broadcast: [(unit: Int, encoding: BlockEncoding)], charges: [Int]) {
        var broadcast: [(unit: Int, encoding: BlockEncoding)] = []
        for unit in needed {
            guard let sent = refresh(views[unit], of: unit, trained: trained.contains(unit)) else { continue }
            broadcast.append((unit, encoding(of: sent)))
            views[unit] = sent
        }
        // The client hosts train these units in place in their views: stale until sent again.
        for unit in trained { views[unit] = .none }
        let charges = selected.map { client in
            needed.reduce(0) { total, unit in
                guard let fetched = refresh(clients[client][unit], of: unit, trained: trained.contains(unit)) else { return total }
                clients[client][unit] = fetched
                return total + size(unit, encoding(of: fetched))
            }
        }
        return (broadcast, charges)
    }

    /// The staleness rule: what a holder of `held` must be sent of `unit`, or nil when its copy
    /// will do. A copy older than the unit's last change is refreshed, and so is an inexact copy of
    /// a unit being trained, which trains from exact values; trained units always travel exact.
    private func refresh(_ held: Copy, of unit: Int, trained: Bool) -> Copy? {
        let current = held.version == changedRound[unit]
        guard !current || (trained && !held.exact) else { return nil }
        return Copy(version: changedRound[unit], exact: trained || frozenEncoding.isExact)
    }

    /// How a copy travels: exact as fp32, otherwise with the frozen-unit codec.
    private func encoding(of copy: Copy) -> BlockEncoding { copy.exact ? .fp32 : frozenEncoding }
}
