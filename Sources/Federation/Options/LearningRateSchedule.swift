#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// The learning rate of each round: an optional linear warm-up, then constant or cosine.
/// Job keys `train.lr_schedule`, `train.warmup_rounds`, `train.lr_floor`.
///
/// The rate changes per round, not per local step: within a visit every step uses the round's
/// rate, which the round header already carries to the clients.
public struct LearningRateSchedule: Sendable, Equatable {
    /// What follows the warm-up.
    public enum Decay: String, CaseIterable, Sendable {
        /// The base rate to the end.
        case constant
        /// Half a cosine from the base rate at the first round after warm-up to `floor` × base at the
        /// last round. The floor defaults to 10 %: decaying to zero would spend the last cycle's
        /// rounds training blocks with almost no step, and each block is visited once a cycle.
        case cosine
    }

    public static let defaultFloor = 0.1

    public let decay: Decay
    /// Rounds 1...W ramp linearly: round r uses base · r / W, so round W reaches the base rate.
    public let warmupRounds: Int
    /// Cosine's final rate as a fraction of the base rate, in [0, 1].
    public let floor: Double

    public init(decay: Decay = .constant, warmupRounds: Int = 0, floor: Double = LearningRateSchedule.defaultFloor) {
        precondition(warmupRounds >= 0 && floor >= 0 && floor <= 1, "warm-up ≥ 0 and floor in [0, 1]")
        self.decay = decay
        self.warmupRounds = warmupRounds
        self.floor = floor
    }

    /// Reads the three job values (nil: not in the job, so the default) and checks them against
    /// the run's length: a warm-up as long as the run would never reach the base rate.
    public init(decay: String?, warmupRounds: Int?, floor: Double?, totalRounds: Int) throws {
        let parsed = try decay.map { try Decay.parse($0, key: "train.lr_schedule") } ?? .constant
        let warmup = warmupRounds ?? 0
        guard warmup >= 0, warmup < max(totalRounds, 1) else {
            throw OptionError(key: "train.warmup_rounds", value: "\(warmup)",
                              expected: "0 or more rounds, fewer than the run's \(totalRounds)")
        }
        let floor = floor ?? Self.defaultFloor
        guard floor >= 0, floor <= 1 else {
            throw OptionError(key: "train.lr_floor", value: "\(floor)",
                              expected: "a fraction of train.learning_rate in [0, 1], e.g. 0.1")
        }
        self.init(decay: parsed, warmupRounds: warmup, floor: floor)
    }

    /// The rate of 1-based `round` in a run of `totalRounds`. Rounds past the end (a run
    /// extended on resume) stay at the final rate.
    public func rate(round: Int, totalRounds: Int, base: Float) -> Float {
        if round <= warmupRounds {
            return Float(Double(base) * Double(max(round, 1)) / Double(warmupRounds))
        }
        switch decay {
        case .constant:
            return base
        case .cosine:
            let decayRounds = totalRounds - warmupRounds
            let progress = decayRounds > 1 ? Double(round - warmupRounds - 1) / Double(decayRounds - 1) : 0
            let clamped = min(max(progress, 0), 1)
            let factor = floor + (1 - floor) * 0.5 * (1 + cos(Double.pi * clamped))
            return Float(Double(base) * factor)
        }
    }
}
