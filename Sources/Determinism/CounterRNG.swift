/// A counter-based random stream keyed by (seed, purpose, round, client).
///
/// Every random draw in a run comes from one of these streams, so the same draw can be
/// remade anywhere: on another rank, in another process, or after a resume. No stream
/// carries state across rounds; its position is only how many values it has handed out.
public struct CounterRNG: RandomNumberGenerator, Sendable {
    /// What a stream is used for, so that two uses with the same (round, client) never share values.
    public enum Purpose: UInt64, Sendable {
        case initialization = 1
        case batches = 2
        case partition = 3
        case schedule = 4
        case validation = 5
        case sampling = 6
        /// LoRA adapters' A matrices; separate from `.initialization` so adding adapters never shifts the model's draws.
        case loraInitialization = 7
    }

    private let key: UInt64
    /// How many 64-bit values this stream has produced.
    public private(set) var counter: UInt64

    public init(seed: UInt64, purpose: Purpose, round: UInt64 = 0, client: UInt64 = 0, counter: UInt64 = 0) {
        var k = CounterRNG.mix(seed ^ 0x9E37_79B9_7F4A_7C15)
        k = CounterRNG.mix(k ^ purpose.rawValue &* 0xBF58_476D_1CE4_E5B9)
        k = CounterRNG.mix(k ^ round &* 0x94D0_49BB_1331_11EB)
        k = CounterRNG.mix(k ^ client &* 0xD6E8_FEB8_6659_FD93)
        self.key = k
        self.counter = counter
    }

    /// SplitMix64's finaliser: a bijective avalanche mix.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        counter &+= 1
        return CounterRNG.mix(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform integer in 0..<bound, by Lemire's multiply-shift with rejection.
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }

    /// A standard normal draw by Box-Muller, computed in Double so every platform agrees.
    public mutating func nextGaussian() -> Double {
        let u1 = (Double(next() >> 11) + 1.0) * (1.0 / 9_007_199_254_740_993.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return (-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
