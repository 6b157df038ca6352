import Determinism
import Foundation
@testable import GPT

/// Small models and batches shared by the tests.
enum TestSupport {
    /// The tiny config of the finite-difference check: V=11, C=8, 2 heads, 2 layers.
    static let tiny = GPTConfig(vocabSize: 11, contextLength: 7, embedDim: 8, layers: 2, heads: 2)

    /// Parameters with large enough values that every gradient is well away from zero:
    /// weights N(0, std), LayerNorm weights 1 + N(0, 0.2), biases N(0, 0.1).
    static func randomParameters(_ config: GPTConfig, seed: UInt64, std: Double = 0.3) -> ParameterBuffer {
        let p = ParameterBuffer(layout: ParameterLayout(config: config))
        var rng = CounterRNG(seed: seed, purpose: .initialization, round: 99)
        for slot in p.layout.tensors {
            let t = p.tensor(slot)
            let isNorm = slot.name.contains("ln_") || slot.name.hasSuffix("norm.weight")
            for i in 0..<t.count {
                let g = rng.nextGaussian()
                if isNorm && slot.name.hasSuffix("weight") { t[i] = Float(1 + 0.2 * g) }
                else if slot.name.hasSuffix("bias") { t[i] = Float(0.1 * g) }
                else { t[i] = Float(std * g) }
            }
        }
        return p
    }

    /// Random token ids for `count` positions.
    static func tokens(_ count: Int, vocab: Int, seed: UInt64) -> [Int32] {
        var rng = CounterRNG(seed: seed, purpose: .batches)
        return (0..<count).map { _ in Int32(rng.nextInt(below: vocab)) }
    }

    /// A batch (inputs, targets) of batch*sequence tokens.
    static func batch(_ config: GPTConfig, batch: Int, sequence: Int, seed: UInt64) -> ([Int32], [Int32]) {
        (tokens(batch * sequence, vocab: config.vocabSize, seed: seed),
         tokens(batch * sequence, vocab: config.vocabSize, seed: seed &+ 1000))
    }

    /// A fresh temporary folder.
    static func temporaryFolder(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "gpttests-\(name)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Bitwise equality of two float buffers.
    static func bitEqual(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern { return false }
        return true
    }
}

/// Central finite differences of the mean loss, in Double, for a selection of parameters per tensor.
struct FiniteDifferences {
    /// Per tensor: the probed indices and their finite-difference gradients.
    let probes: [(slot: TensorSlot, indices: [Int], values: [Double])]

    /// Probes the tensors `include` accepts (all by default), with the evaluator skipping `skippedLayers`.
    init(config: GPTConfig, batch: Int, sequence: Int, parameters p: ParameterBuffer,
         inputs: [Int32], targets: [Int32], eps: Float, perTensor: Int,
         skippedLayers: Set<Int> = [], include: (TensorSlot) -> Bool = { _ in true }) {
        let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence, skippedLayers: skippedLayers)
        var probes: [(TensorSlot, [Int], [Double])] = []
        for slot in p.layout.tensors where include(slot) {
            let t = p.tensor(slot)
            let indices = Set((0..<perTensor).map { ($0 * 7919 + slot.count / 3) % slot.count } + [0, slot.count - 1]).sorted()
            var values: [Double] = []
            for i in indices {
                let saved = t[i]
                t[i] = saved + eps
                let up = evaluator.meanLoss(parameters: p, inputs: inputs, targets: targets)
                t[i] = saved - eps
                let down = evaluator.meanLoss(parameters: p, inputs: inputs, targets: targets)
                t[i] = saved
                values.append((up - down) / (Double(saved + eps) - Double(saved - eps)))
            }
            probes.append((slot, indices, values))
        }
        self.probes = probes
    }

    /// Worst error per tensor: max |fd - analytic| / max(max |analytic| over the probed entries, 1e-3).
    func errors(_ analytic: (TensorSlot, Int) -> Float) -> [(name: String, error: Double, scale: Double)] {
        probes.map { probe in
            var worst = 0.0, scale = 0.0
            for (i, fd) in zip(probe.indices, probe.values) {
                let g = Double(analytic(probe.slot, i))
                worst = max(worst, abs(fd - g))
                scale = max(scale, abs(g))
            }
            return (probe.slot.name, worst / max(scale, 1e-3), scale)
        }
    }
}
