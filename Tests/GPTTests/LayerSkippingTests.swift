import XCTest
@testable import GPT

/// Skipped layers (FedCyBGD's layer dropping) are the identity on the residual stream and are never read.
final class LayerSkippingTests: XCTestCase {
    let config = GPTConfig(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 4, heads: 2)
    let batch = 2, sequence = 9

    /// Zeroing both output projections of a pre-LN layer makes it an exact identity on the residual stream.
    func identityLayers(_ p: ParameterBuffer, _ layers: Set<Int>) -> ParameterBuffer {
        let q = p.copy()
        for l in layers {
            for t in ["attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"] {
                q.tensor(named: "transformer.h.\(l).\(t)")!.update(repeating: 0)
            }
        }
        return q
    }

    /// Every skipped layer's tensors set to NaN.
    func poisoned(_ p: ParameterBuffer, _ layers: Set<Int>) -> ParameterBuffer {
        let q = p.copy()
        for l in layers { q.block(q.layout.block(ofLayer: l)).update(repeating: .nan) }
        return q
    }

    func relativeDifference(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) -> Double {
        var diff = 0.0, scale = 0.0
        for i in 0..<a.count {
            diff = max(diff, abs(Double(a[i]) - Double(b[i])))
            scale = max(scale, abs(Double(b[i])))
        }
        return diff / max(scale, 1e-12)
    }

    /// (skipped layers, trainable blocks): covers skipping below the stored layers (the frozen scratch
    /// path), between trainable layers, the last layer, several at once, and with embeddings training.
    var cases: [(Set<Int>, Set<Int>)] {
        let L = config.layers
        return [([1], [0, 1, 3, 4, L + 1]), ([0], [3]), ([0, 1], [3, L + 1]), ([L - 1], [1, L + 1]),
                ([0, 2], [2, 4]), ([1, 2], [0]), ([3], [L + 1])]
    }

    func testSkippingEqualsAnIdentityLayer() {
        let p = TestSupport.randomParameters(config, seed: 21)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 21)
        for (skipped, trainable) in cases {
            let what = "skipping \(skipped.sorted()), training \(trainable.sorted())"
            let reference = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: trainable)
            let expected = reference.forwardBackward(parameters: identityLayers(p, skipped), inputs: inputs, targets: targets)
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: trainable,
                                     skippedLayers: skipped)
            let loss = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
            XCTAssertEqual(Double(loss), Double(expected), accuracy: 1e-6 * Double(expected), what)
            // The identity layer would change the loss if it were not skipped.
            let unskipped = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [])
            XCTAssertNotEqual(unskipped.forwardBackward(parameters: p, inputs: inputs, targets: targets), loss, what)
            for b in trainable {
                let error = relativeDifference(trainer.gradient(ofBlock: b)!, reference.gradient(ofBlock: b)!)
                XCTAssertLessThan(error, 1e-6, "block \(b) gradient, \(what)")
            }
            let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence, skippedLayers: skipped)
            XCTAssertEqual(Double(evaluator.loss(parameters: p, inputs: inputs, targets: targets)), Double(expected),
                           accuracy: 1e-6 * Double(expected), "evaluator, \(what)")
        }
    }

    func testSkippedLayersAreNeverRead() {
        let p = TestSupport.randomParameters(config, seed: 22)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 22)
        for (skipped, trainable) in cases {
            let what = "skipping \(skipped.sorted()), training \(trainable.sorted())"
            func run(_ q: ParameterBuffer) -> (Float, GPTTrainer) {
                let t = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: trainable, skippedLayers: skipped)
                return (t.forwardBackward(parameters: q, inputs: inputs, targets: targets), t)
            }
            let (clean, cleanTrainer) = run(p)
            let (nan, nanTrainer) = run(poisoned(p, skipped))
            XCTAssertEqual(nan.bitPattern, clean.bitPattern, what)
            for b in trainable {
                XCTAssertTrue(TestSupport.bitEqual(nanTrainer.gradient(ofBlock: b)!, cleanTrainer.gradient(ofBlock: b)!),
                              "block \(b), \(what)")
            }
            let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence, skippedLayers: skipped)
            XCTAssertEqual(evaluator.loss(parameters: poisoned(p, skipped), inputs: inputs, targets: targets).bitPattern,
                           evaluator.loss(parameters: p, inputs: inputs, targets: targets).bitPattern, what)
        }
        // The poison is real: an evaluator that does not skip sees it.
        let plain = GPTEvaluator(config: config, batch: batch, sequence: sequence)
        XCTAssertTrue(plain.loss(parameters: poisoned(p, [1]), inputs: inputs, targets: targets).isNaN)
    }

    func testTrainingWithSkippedLayersStoresNoActivationsForThem() {
        let all = Set(0..<(config.layers + 2)).subtracting([2, 3])
        let full = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: all)
        let skipping = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: all, skippedLayers: [1, 2])
        XCTAssertEqual(skipping.stored.compactMap { $0 }.count, config.layers - 2)
        XCTAssertLessThan(skipping.activationFloatCount, full.activationFloatCount)
        // Layers below the lowest trainable one that are all skipped need no scratch layer.
        let top = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [3], skippedLayers: [0, 1])
        XCTAssertNil(top.frozenScratch)
    }

    func testStepWithSkippedLayerLeavesItAndFrozenBlocksUnchanged() {
        let p = poisoned(TestSupport.randomParameters(config, seed: 23), [2])
        let before = p.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 23)
        let trainable: Set<Int> = [1, 2, 4]
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: trainable, skippedLayers: [2])
        var losses: [Float] = []
        for _ in 0..<3 {
            losses.append(trainer.step(parameters: p, inputs: inputs, targets: targets, settings: AdamWSettings(learningRate: 1e-2)))
        }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertLessThan(losses[2], losses[0])
        for block in p.layout.blocks {
            XCTAssertEqual(TestSupport.bitEqual(p.block(block.index), before.block(block.index)),
                           !trainable.contains(block.index), "block \(block.index)")
        }
    }

    func testGradientsWithSkippedLayerMatchFiniteDifferences() {
        let config = TestSupport.tiny.with(layers: 3)
        let skipped: Set<Int> = [1]
        let p = poisoned(TestSupport.randomParameters(config, seed: 24), skipped)
        var (inputs, targets) = TestSupport.batch(config, batch: 2, sequence: 5, seed: 24)
        targets[3] = -1
        let trainable: Set<Int> = [0, 1, 3, 4]
        let trainer = GPTTrainer(config: config, batch: 2, sequence: 5, trainableBlocks: trainable, skippedLayers: skipped)
        _ = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
        let fd = FiniteDifferences(config: config, batch: 2, sequence: 5, parameters: p, inputs: inputs, targets: targets,
                                   eps: 1e-2, perTensor: 6, skippedLayers: skipped) { trainable.contains($0.block) }
        let results = fd.errors { slot, i in trainer.gradient(of: slot)![i] }
        XCTAssertEqual(results.count, p.layout.tensors.filter { trainable.contains($0.block) }.count)
        for r in results {
            XCTAssertLessThan(r.error, 1e-2, "gradient of \(r.name): relative error \(r.error)")
            XCTAssertGreaterThan(r.scale, 1e-4, "gradient of \(r.name) is too small to test")
        }
        // The check has teeth: a 5% error in the layer just below the skipped one is caught.
        let wrong = p.layout.tensor(named: "transformer.h.0.mlp.c_fc.weight")!
        let bad = fd.errors { slot, i in (slot == wrong ? 1.05 : 1) * trainer.gradient(of: slot)![i] }
        XCTAssertGreaterThan(bad.first { $0.name == wrong.name }!.error, 1e-2)
    }
}

extension GPTConfig {
    /// The same shape with another layer count.
    func with(layers: Int) -> GPTConfig {
        var c = self
        c.layers = layers
        return c
    }
}
