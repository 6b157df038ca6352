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

/// One rank's stopwatch: code run inside `charge` counts as communication or waiting, and the
/// rest of the time between two laps is compute. Used from the rank's own thread only.
public final class RankClock {
    /// What a charged interval counts as; the uncharged rest of a lap is compute.
    public enum Phase { case communication, waiting }

    private var lapStarted = ProcessMetrics.now()
    private var communication = 0.0
    private var waiting = 0.0
    /// Set while a charge runs, so a nested charge (a timed transport call inside a timed
    /// decode, say) is not counted twice.
    private var charging = false

    public init() {}

    /// Runs `body`, adding its wall time to `phase`.
    public func charge<T>(_ phase: Phase, _ body: () throws -> T) rethrows -> T {
        guard !charging else { return try body() }
        charging = true
        let started = ProcessMetrics.now()
        defer {
            let spent = ProcessMetrics.now() - started
            switch phase {
            case .communication: communication += spent
            case .waiting: waiting += spent
            }
            charging = false
        }
        return try body()
    }

    /// The split since the previous lap (or since the clock was made); starts the next one.
    @discardableResult
    public func lap() -> RankTimes {
        let now = ProcessMetrics.now()
        let times = RankTimes(compute: max(0, now - lapStarted - communication - waiting),
                              communication: communication, waiting: waiting)
        lapStarted = now
        communication = 0
        waiting = 0
        return times
    }
}

/// A transport that charges its calls to a `RankClock`: a broadcast is communication on its
/// root and waiting elsewhere (the rank is blocked until the root's data arrives), a send is
/// communication, and a receive or barrier is waiting.
public final class TimedTransport: Transport {
    /// The transport that moves the bytes; messages sent on it directly are not timed.
    public let inner: Transport
    public let clock: RankClock

    public init(_ inner: Transport, clock: RankClock = RankClock()) {
        self.inner = inner
        self.clock = clock
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        try clock.charge(root == rank ? .communication : .waiting) { try inner.broadcast(&bytes, root: root) }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try clock.charge(.communication) { try inner.send(bytes, to: destination, tag: tag) }
    }

    public func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        try clock.charge(.waiting) { try inner.receive(from: source, tag: tag, maxBytes: maxBytes) }
    }

    public func barrier() throws {
        try clock.charge(.waiting) { try inner.barrier() }
    }
}

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
