import Determinism
import XCTest
@testable import GPT

/// LoRA adapters: layout, initialisation, merging, gradients and training.
final class LoRATests: XCTestCase {
    let config = GPTConfig(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 2, heads: 2)
    let lora = LoRAConfig(rank: 3, alpha: 6)
    let batch = 2, sequence = 9

    /// Adapters with A from the default init and B random N(0, std), so every gradient is non-zero.
    func adapters(_ layout: LoRALayout, seed: UInt64, bStd: Double = 0.3) -> LoRAAdapters {
        let a = LoRAAdapters.initialized(layout: layout, seed: seed)
        var rng = CounterRNG(seed: seed, purpose: .initialization, round: 77)
        for t in layout.tensors where t.name.hasSuffix("lora_B") {
            for i in t.offset..<(t.offset + t.count) { a.storage[i] = Float(rng.nextGaussian() * bStd) }
        }
        return a
    }

    func testLayoutCoversFourMatricesPerLayerContiguously() {
        let layout = LoRALayout(model: config, lora: lora)
        let c = config.embedDim, r = lora.rank
        // Per layer: c_attn r(C + 3C), attn.c_proj r(C + C), c_fc r(C + 4C), mlp.c_proj r(4C + C).
        XCTAssertEqual(layout.parameterCount, config.layers * r * 16 * c)
        XCTAssertEqual(layout.tensors.count, config.layers * 8)
        var next = 0
        for t in layout.tensors {
            XCTAssertEqual(t.offset, next, t.name)
            XCTAssertEqual(t.count, t.shape.reduce(1, *), t.name)
            next += t.count
        }
        XCTAssertEqual(next, layout.parameterCount)
        XCTAssertEqual(layout.tensors[0].name, "transformer.h.0.attn.c_attn.lora_A")
        XCTAssertEqual(layout.tensors[0].shape, [c, r])
        let s = layout.slot(layer: 1, .mlpProjection)
        XCTAssertEqual(layout.tensors.first { $0.name == "transformer.h.1.mlp.c_proj.lora_B" }?.offset, s.bOffset)
        XCTAssertEqual(layout.tensors.first { $0.name == "transformer.h.1.mlp.c_proj.lora_B" }?.shape, [r, c])
        XCTAssertEqual(s.weightOffset, ParameterLayout(config: config).tensor(named: "transformer.h.1.mlp.c_proj.weight")?.offset)
    }

    func testInitialisationIsPeftLikeAndSeeded() {
        let layout = LoRALayout(model: config, lora: lora)
        // Kept in locals: a temporary's storage could be freed before bitEqual reads it.
        let a = LoRAAdapters.initialized(layout: layout, seed: 5)
        let same = LoRAAdapters.initialized(layout: layout, seed: 5), other = LoRAAdapters.initialized(layout: layout, seed: 6)
        XCTAssertTrue(TestSupport.bitEqual(a.storage, same.storage))
        XCTAssertFalse(TestSupport.bitEqual(a.storage, other.storage))
        for t in layout.tensors {
            let values = a.tensor(named: t.name)!
            if t.name.hasSuffix("lora_B") {
                XCTAssertTrue(values.allSatisfy { $0 == 0 }, t.name)
            } else {
                let bound = 1 / Float(t.shape[0]).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, t.name)
                XCTAssertGreaterThan(values.map(abs).max()!, bound / 2, t.name)
            }
        }
        withExtendedLifetime(a) {}
    }

    func testMergeWithZeroBIsTheBaseBitForBit() {
        let base = TestSupport.randomParameters(config, seed: 31)
        let adapters = LoRAAdapters.initialized(layout: LoRALayout(model: config, lora: lora), seed: 31)
        let merged = ParameterBuffer(layout: base.layout)
        LoRAMerge.merge(base: base, adapters: adapters, into: merged)
        XCTAssertTrue(TestSupport.bitEqual(merged.storage, base.storage))
    }

    func testMergeMatchesNaiveTripleLoop() {
        let base = TestSupport.randomParameters(config, seed: 32)
        let layout = LoRALayout(model: config, lora: lora)
        let ad = adapters(layout, seed: 32)
        let merged = ParameterBuffer(layout: base.layout)
        LoRAMerge.merge(base: base, adapters: ad, into: merged)
        var expected = base.storage.map(Double.init)
        for s in layout.slots {
            for i in 0..<s.inDim {
                for j in 0..<s.outDim {
                    var sum = 0.0
                    for k in 0..<s.rank {
                        sum += Double(ad.storage[s.aOffset + i * s.rank + k]) * Double(ad.storage[s.bOffset + k * s.outDim + j])
                    }
                    expected[s.weightOffset + i * s.outDim + j] += Double(lora.scale) * sum
                }
            }
        }
        var worst = 0.0
        for i in 0..<expected.count { worst = max(worst, abs(Double(merged.storage[i]) - expected[i])) }
        XCTAssertLessThan(worst, 1e-6)
        // Every adapted matrix really changed, and nothing else did.
        let adapted = Set(layout.slots.map { "transformer.h.\($0.layer).\($0.target.rawValue).weight" })
        for t in base.layout.tensors {
            XCTAssertEqual(TestSupport.bitEqual(merged.tensor(t), base.tensor(t)), !adapted.contains(t.name), t.name)
        }
        // In place gives the same result.
        let inPlace = base.copy()
        LoRAMerge.merge(base: inPlace, adapters: ad, into: inPlace)
        XCTAssertTrue(TestSupport.bitEqual(inPlace.storage, merged.storage))
    }

    func testAdapterGradientsMatchFiniteDifferencesOfTheMergedModel() {
        checkAdapterGradients(TestSupport.tiny)
    }

    /// Llama's seven adapted matrices per layer, whose base weights are stored [out, in].
    func testLlamaAdapterGradientsMatchFiniteDifferences() {
        let config = GPTConfig.llama(vocabSize: 11, contextLength: 7, embedDim: 8, layers: 2, heads: 2, keyValueHeads: 1,
                                     intermediateSize: 12)
        XCTAssertEqual(LoRALayout(model: config, lora: LoRAConfig(rank: 2, alpha: 4)).tensors.count, 2 * 7 * 2)
        checkAdapterGradients(config)
    }

    func checkAdapterGradients(_ config: GPTConfig, file: StaticString = #filePath, line: UInt = #line) {
        let lora = LoRAConfig(rank: 2, alpha: 4), batch = 2, sequence = 5
        let layout = LoRALayout(model: config, lora: lora)
        let base = TestSupport.randomParameters(config, seed: 33)
        let ad = adapters(layout, seed: 33)
        var (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 33)
        targets[2] = -1
        let trainer = LoRATrainer(model: config, lora: lora, batch: batch, sequence: sequence)
        _ = trainer.forwardBackward(base: base, adapters: ad.storage, inputs: inputs, targets: targets)
        let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence)
        let merged = ParameterBuffer(layout: base.layout)
        func loss() -> Double {
            LoRAMerge.merge(base: base, adapters: ad, into: merged)
            return evaluator.meanLoss(parameters: merged, inputs: inputs, targets: targets)
        }
        let eps: Float = 1e-2
        var worstCorrect = 0.0
        for t in layout.tensors {
            let indices = Set((0..<5).map { ($0 * 7919 + t.count / 3) % t.count } + [0, t.count - 1]).sorted()
            var fd: [Double] = [], analytic: [Double] = []
            for i in indices.map({ t.offset + $0 }) {
                let saved = ad.storage[i]
                ad.storage[i] = saved + eps
                let up = loss()
                ad.storage[i] = saved - eps
                let down = loss()
                ad.storage[i] = saved
                fd.append((up - down) / (Double(saved + eps) - Double(saved - eps)))
                analytic.append(Double(trainer.gradient[i]))
            }
            let scale = analytic.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-4, "gradient of \(t.name) is too small to test", file: file, line: line)
            func error(_ factor: Double) -> Double {
                zip(fd, analytic).map { abs($0 - factor * $1) }.max()! / max(scale, 1e-3)
            }
            worstCorrect = max(worstCorrect, error(1))
            XCTAssertLessThan(error(1), 1e-2, "gradient of \(t.name)", file: file, line: line)
            XCTAssertGreaterThan(error(1.05), 1e-2, "a 5% error in \(t.name) would go unnoticed", file: file, line: line)
        }
        print("worst LoRA finite-difference error:", worstCorrect)
    }

    func testStepsLowerTheLossAndChangeOnlyTheAdapters() {
        let base = ParameterBuffer.initialized(layout: ParameterLayout(config: config), seed: 34)
        let before = base.copy()
        let ad = LoRAAdapters.initialized(layout: LoRALayout(model: config, lora: lora), seed: 34)
        let initial = ad.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 34)
        let trainer = LoRATrainer(model: config, lora: lora, batch: batch, sequence: sequence)
        XCTAssertEqual(trainer.trainer.optimizerStateParameterCount, 0)
        let settings = AdamWSettings(learningRate: 1e-2, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<5 {
            losses.append(trainer.step(base: base, adapters: ad.storage, inputs: inputs, targets: targets, settings: settings))
        }
        // B = 0 at the start, so the first loss is the base model's.
        let plain = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [])
        XCTAssertEqual(losses[0], plain.forwardBackward(parameters: base, inputs: inputs, targets: targets))
        for i in 1..<losses.count { XCTAssertLessThan(losses[i], losses[i - 1], "step \(i)") }
        XCTAssertTrue(TestSupport.bitEqual(base.storage, before.storage))
        for t in ad.layout.tensors {
            XCTAssertFalse(TestSupport.bitEqual(ad.tensor(named: t.name)!, initial.tensor(named: t.name)!), "\(t.name) did not train")
        }
        withExtendedLifetime((ad, initial)) {}
    }

    func testResetOptimizerRestartsAdamW() {
        let base = TestSupport.randomParameters(config, seed: 35)
        let layout = LoRALayout(model: config, lora: lora)
        let a1 = adapters(layout, seed: 35), a2 = a1.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 35)
        let settings = AdamWSettings(learningRate: 1e-2)
        let t = LoRATrainer(model: config, lora: lora, batch: batch, sequence: sequence)
        _ = t.step(base: base, adapters: a1.storage, inputs: inputs, targets: targets, settings: settings)
        t.resetOptimizer()
        XCTAssertEqual(t.optimizerStep, 0)
        a1.storage.baseAddress!.update(from: a2.storage.baseAddress!, count: a2.storage.count)
        _ = t.step(base: base, adapters: a1.storage, inputs: inputs, targets: targets, settings: settings)
        let fresh = LoRATrainer(model: config, lora: lora, batch: batch, sequence: sequence)
        _ = fresh.step(base: base, adapters: a2.storage, inputs: inputs, targets: targets, settings: settings)
        XCTAssertTrue(TestSupport.bitEqual(a1.storage, a2.storage))
        withExtendedLifetime((a1, a2)) {}
    }
}
