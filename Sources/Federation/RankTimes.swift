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
