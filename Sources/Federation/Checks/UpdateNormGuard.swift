/// The server's bound on an upload's update norm: an update far larger than the recent accepted
/// ones is a diverging or malicious client, and is left out of the aggregate.
/// Job keys `server.update_norm_multiple`, `server.update_norm_max`, `server.update_norm_warmup`,
/// `server.update_norm_window`.
///
/// A value type whose whole state is `state`, plain numbers, so a checkpoint can store it and a
/// resumed run continue exactly. The server gives it each upload's `UpdateSize.rms`, not the L2
/// distance the history records, because a block's L2 norm grows with √(its size) (the final
/// norm's 2C values against a layer's 12C²), while AdamW moves every value by about the learning
/// rate, so the RMS of one block's update is comparable with another's and one running median
/// serves them all.
public struct UpdateNormGuard: Sendable, Equatable {
    /// What an update's norm is held against.
    public enum Bound: Sendable, Equatable {
        /// Only non-finite norms are refused.
        case off
        /// At most this multiple of the median of the recent accepted norms, once `warmup` have been accepted.
        case medianMultiple(Double)
        /// At most this value, from the first round.
        case absolute(Double)
    }

    public struct Configuration: Sendable, Equatable {
        public var bound: Bound
        /// Accepted updates before the median bound applies; until then any finite norm passes.
        public var warmup: Int
        /// How many of the most recent accepted norms the median is taken over.
        public var window: Int

        /// 10× the median of the last 32 accepted updates, after 3: generous enough that the
        /// spread between blocks and a learning-rate warm-up never trip it (both stay within
        /// a few times the median), tight enough to stop a 1000× blow-up.
        public static let `default` = Configuration(bound: .medianMultiple(10), warmup: 3, window: 32)

        public init(bound: Bound, warmup: Int, window: Int) {
            self.bound = bound
            self.warmup = warmup
            self.window = window
        }

        /// Reads the job values (nil: not in the job). `update_norm_max` replaces the median bound
        /// with an absolute one; `update_norm_multiple = 0` turns the bound off.
        public init(multiple: Double?, absolute: Double?, warmup: Int?, window: Int?) throws {
            let defaults = Configuration.default
            self.warmup = warmup ?? defaults.warmup
            self.window = window ?? defaults.window
            guard self.warmup >= 1 else {
                throw OptionError(key: "server.update_norm_warmup", value: "\(self.warmup)",
                                  expected: "at least 1 accepted update before the median bound applies, e.g. 3")
            }
            guard self.window >= self.warmup else {
                throw OptionError(key: "server.update_norm_window", value: "\(self.window)",
                                  expected: "at least server.update_norm_warmup (\(self.warmup)) norms, e.g. 32")
            }
            if let absolute {
                guard absolute.isFinite, absolute > 0 else {
                    throw OptionError(key: "server.update_norm_max", value: "\(absolute)", expected: "a positive norm, or no value")
                }
                guard multiple == nil else {
                    throw OptionError(key: "server.update_norm_multiple", value: "\(multiple!)",
                                      expected: "no value when server.update_norm_max is set; set one of the two")
                }
                bound = .absolute(absolute)
                return
            }
            let multiple = multiple ?? 10
            // Below 1 the bound would refuse the typical update by construction.
            guard multiple == 0 || (multiple.isFinite && multiple >= 1) else {
                throw OptionError(key: "server.update_norm_multiple", value: "\(multiple)",
                                  expected: "a multiple of the running median of at least 1, e.g. 10, or 0 for no bound")
            }
            bound = multiple == 0 ? .off : .medianMultiple(multiple)
        }
    }

    /// Everything that changes as updates are accepted.
    public struct State: Sendable, Equatable {
        /// The most recent accepted norms, oldest first, at most `window` of them.
        public var recentNorms: [Double]
        /// Accepted updates so far, including those fallen out of the window.
        public var acceptedCount: Int

        public init(recentNorms: [Double] = [], acceptedCount: Int = 0) {
            self.recentNorms = recentNorms
            self.acceptedCount = acceptedCount
        }
    }

    public let configuration: Configuration
    public private(set) var state: State

    public init(configuration: Configuration = .default) {
        self.configuration = configuration
        self.state = State()
    }

    /// Restores a saved guard; refuses a state this configuration could not have produced.
    public init(configuration: Configuration, state: State) throws {
        guard state.recentNorms.count <= configuration.window, state.acceptedCount >= state.recentNorms.count,
              state.recentNorms.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw OptionError(key: "checkpoint update-norm state",
                              value: "\(state.recentNorms.count) norms, \(state.acceptedCount) accepted",
                              expected: "at most \(configuration.window) finite non-negative norms, no more than the accepted count "
                                  + "(was the job's server.update_norm_window changed since the checkpoint?)")
        }
        self.configuration = configuration
        self.state = state
    }

    /// The largest norm that passes now; nil while nothing finite is refused (off, warm-up, or a zero median).
    public var currentLimit: Double? {
        switch configuration.bound {
        case .off: return nil
        case let .absolute(limit): return limit
        case let .medianMultiple(multiple):
            guard state.acceptedCount >= configuration.warmup, let median = Self.median(state.recentNorms), median > 0 else {
                // A zero median (updates that were exactly zero) gives no scale to compare against.
                return nil
            }
            return multiple * median
        }
    }

    /// Whether an update of this norm may enter the aggregate. Does not change the state.
    public func check(norm: Double) -> Bool {
        guard norm.isFinite, norm >= 0 else { return false }
        guard let limit = currentLimit else { return true }
        return norm <= limit
    }

    /// Records an accepted update's norm. Non-finite norms are never recorded.
    public mutating func record(norm: Double) {
        guard norm.isFinite, norm >= 0 else { return }
        state.recentNorms.append(norm)
        if state.recentNorms.count > configuration.window { state.recentNorms.removeFirst() }
        state.acceptedCount += 1
    }

    /// One round's uploads, in client order: each is checked against the state at the start of
    /// the round, so the verdicts do not depend on the order, and then the accepted ones are recorded.
    public mutating func screen(norms: [Double]) -> [Bool] {
        let verdicts = norms.map(check(norm:))
        for (norm, accepted) in zip(norms, verdicts) where accepted { record(norm: norm) }
        return verdicts
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
