/// One rank's stopwatch: code run inside `charge` counts as communication or waiting, and the
/// rest of the time between two laps is compute. Used from the rank's own thread only.
public final class RankClock {
    /// What a charged interval counts as; the uncharged rest of a lap is compute.
    public enum Phase { case communication, waiting }

    private var lapStarted = MonotonicClock.now()
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
        let started = MonotonicClock.now()
        defer {
            let spent = MonotonicClock.now() - started
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
        let now = MonotonicClock.now()
        let times = RankTimes(compute: max(0, now - lapStarted - communication - waiting),
                              communication: communication, waiting: waiting)
        lapStarted = now
        communication = 0
        waiting = 0
        return times
    }
}
