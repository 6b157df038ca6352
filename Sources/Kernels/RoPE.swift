#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels

// Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i pairs
// with element i + headDim/2. The tables repeat transformers' float32 arithmetic step by step (inverse
// frequencies, Llama 3 scaling, angle = Float(position) * invFreq) so that cos/sin match its own.

/// Llama 3's frequency scaling (config `rope_scaling` / `rope_parameters` with `rope_type` "llama3"), as
/// transformers' `_compute_llama3_parameters` applies it. Codable under the Hugging Face key names.
public struct RopeScaling: Hashable, Sendable, Codable {
    /// `factor`: how much the low frequencies are slowed down.
    public var factor: Double
    /// `low_freq_factor`: wavelengths above `originalContext / lowFrequencyFactor` are divided by `factor`.
    public var lowFrequencyFactor: Double
    /// `high_freq_factor`: wavelengths below `originalContext / highFrequencyFactor` are kept.
    public var highFrequencyFactor: Double
    /// `original_max_position_embeddings`: the context length the model was pretrained with.
    public var originalContext: Int

    /// Scaling with the given parameters (Llama 3.1: 8, 1, 4, 8192).
    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalContext = originalContext
    }

    enum CodingKeys: String, CodingKey {
        case factor
        case lowFrequencyFactor = "low_freq_factor"
        case highFrequencyFactor = "high_freq_factor"
        case originalContext = "original_max_position_embeddings"
    }

    /// The scaled inverse frequencies, in float32 operation by operation as transformers computes them.
    func apply(to inverseFrequencies: [Float]) -> [Float] {
        let context = Float(originalContext), low = Float(lowFrequencyFactor), high = Float(highFrequencyFactor)
        let lowFrequencyWavelength = Float(Double(originalContext) / lowFrequencyFactor)
        let highFrequencyWavelength = Float(Double(originalContext) / highFrequencyFactor)
        let factor = Float(factor), twoPi = Float(2 * Double.pi)
        return inverseFrequencies.map { f in
            let wavelength = (1 / f) * twoPi  // torch's scalar / tensor is reciprocal(tensor) * scalar
            let scaled = wavelength > lowFrequencyWavelength ? f / factor : f
            guard !(wavelength < highFrequencyWavelength) && !(wavelength > lowFrequencyWavelength) else { return scaled }
            let smooth = ((1 / wavelength) * context - low) / (high - low)
            return (1 - smooth) * scaled / factor + smooth * scaled
        }
    }
}

/// cos/sin tables [positions, headDim/2] for RoPE: entry [p, i] is of the angle `Float(p) * invFreq[i]`,
/// `invFreq[i] = 1 / theta^(2i / headDim)` (Llama 3 scaled when `scaling` is given).
public struct RotaryTable: Sendable {
    /// Floats per head; the rotation pairs element i with i + headDim/2.
    public let headDim: Int
    /// Positions 0..<positions are tabulated.
    public let positions: Int
    /// The RoPE base (`rope_theta`).
    public let theta: Double
    /// Llama 3 frequency scaling, when the model uses it.
    public let scaling: RopeScaling?
    /// The headDim/2 inverse frequencies, as transformers' float32 `inv_freq`.
    public let inverseFrequencies: [Float]
    /// cos of the angles, [positions, headDim/2].
    public let cos: [Float]
    /// sin of the angles, [positions, headDim/2].
    public let sin: [Float]

    /// Tabulates positions 0..<positions (memory: 4 * positions * headDim bytes).
    public init(headDim: Int, positions: Int, theta: Double, scaling: RopeScaling? = nil) {
        precondition(headDim > 0 && headDim % 2 == 0, "RoPE needs an even head size, not \(headDim)")
        precondition(positions >= 0 && theta > 0, "RoPE needs positions >= 0 and theta > 0")
        self.headDim = headDim
        self.positions = positions
        self.theta = theta
        self.scaling = scaling
        let half = headDim / 2, base = Float(theta)
        // 1.0 / (base ** (arange(0, dim, 2).float() / dim)), each step in float32.
        let unscaled = (0..<half).map { i in 1 / powf(base, Float(2 * i) / Float(headDim)) }
        let frequencies = scaling?.apply(to: unscaled) ?? unscaled
        inverseFrequencies = frequencies
        (cos, sin) = cosineAndSineTables(frequencies, positions: positions)
    }
}

/// cos and sin of `Float(p) * frequencies[i]` for p in 0..<positions, rounded from Double to Float.
private func cosineAndSineTables(_ frequencies: [Float], positions: Int) -> ([Float], [Float]) {
    let half = frequencies.count
    var cosines = [Float](repeating: 0, count: positions * half), sines = cosines
    for p in 0..<positions {
        for i in 0..<half {
            let angle = Double(Float(p) * frequencies[i])
            cosines[p * half + i] = Float(cos(angle))
            sines[p * half + i] = Float(sin(angle))
        }
    }
    return (cosines, sines)
}

/// Rotates in place `heads` heads of `headDim` floats starting at column `firstColumn` of every row of `x`,
/// which is [batch * seq, rowStride] row-major; row r has position `positionOffset + r % seq`. With
/// `inverse`, rotates by the negative angle (the backward pass of the forward rotation).
public func ropeRotate(
    _ x: UnsafeMutablePointer<Float>, rowStride: Int, firstColumn: Int, heads: Int, headDim: Int, batch: Int, seq: Int,
    positionOffset: Int = 0, table: RotaryTable, inverse: Bool
) {
    precondition(headDim == table.headDim && headDim % 2 == 0, "RoPE table is for head size \(table.headDim), not \(headDim)")
    precondition(positionOffset >= 0 && positionOffset + seq <= table.positions,
                 "RoPE table has \(table.positions) positions; \(positionOffset + seq) needed")
    precondition(firstColumn >= 0 && firstColumn + heads * headDim <= rowStride, "RoPE heads run past the row")
    let rows = batch * seq, perWorker = max(1, (1 << 13) / max(heads * headDim, 1))
    table.cos.withUnsafeBufferPointer { cos in
        table.sin.withUnsafeBufferPointer { sin in
            Parallel.forRanges(rows, minimumPerWorker: perWorker) { _, range in
                fk_rope_rotate(x, rowStride, firstColumn, heads, headDim, range.lowerBound, range.upperBound, seq,
                               positionOffset, cos.baseAddress, sin.baseAddress, inverse ? 1 : 0)
            }
        }
    }
}
