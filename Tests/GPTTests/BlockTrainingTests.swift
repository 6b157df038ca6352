import XCTest
@testable import GPT

/// Training a subset of blocks: gradients, memory, frozen parameters.
final class BlockTrainingTests: XCTestCase {
    let config = GPTConfig(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 2)
    let batch = 2, sequence = 9

    func fullGradients(_ p: ParameterBuffer, _ inputs: [Int32], _ targets: [Int32]) -> (GPTTrainer, Float) {
        let full = GPTTrainer(config: p.layout.config, batch: batch, sequence: sequence, trainableBlocks: Set(0..<p.layout.blockCount))
        let loss = full.forwardBackward(parameters: p, inputs: inputs, targets: targets)
        return (full, loss)
    }

    func testSubsetGradientsEqualSlicesOfFullBackward() {
        checkSubsetGradients(config)
    }

    /// The same for Llama, with an untied head (in the final block) and with a tied one (in block 0).
    func testLlamaSubsetGradientsEqualSlicesOfFullBackward() {
        for tied in [false, true] {
            checkSubsetGradients(.llama(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 4, keyValueHeads: 2,
                                        intermediateSize: 24, tiedHead: tied))
        }
    }

    func checkSubsetGradients(_ config: GPTConfig) {
        let p = TestSupport.randomParameters(config, seed: 3)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 3)
        let (full, fullLoss) = fullGradients(p, inputs, targets)
        let L = config.layers
        let subsets: [Set<Int>] = [[0], [1], [2], [L], [L + 1], [1, L + 1], [0, 2], [2, 3, 4]]
        for subset in subsets {
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: subset)
            let loss = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
            XCTAssertEqual(loss.bitPattern, fullLoss.bitPattern, "loss with blocks \(subset.sorted())")
            for block in p.layout.blocks {
                let g = trainer.gradient(ofBlock: block.index)
                guard subset.contains(block.index) else {
                    XCTAssertNil(g, "frozen block \(block.index) has a gradient")
                    continue
                }
                let ours = Array(g!), reference = Array(full.gradient(ofBlock: block.index)!)
                // The same kernels run in the same order on the same values, so the match is exact.
                XCTAssertEqual(ours, reference, "block \(block.index) with blocks \(subset.sorted()) trainable")
            }
        }
    }

    func testTrainingLastLayerLeavesEverythingElseBitUnchanged() {
        let p = TestSupport.randomParameters(config, seed: 4)
        let before = p.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 4)
        let last = config.layers
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [last])
        var losses: [Float] = []
        for _ in 0..<3 {
            losses.append(trainer.step(parameters: p, inputs: inputs, targets: targets, settings: AdamWSettings(learningRate: 1e-2)))
        }
        XCTAssertLessThan(losses[2], losses[0])
        for block in p.layout.blocks {
            let same = TestSupport.bitEqual(p.block(block.index), before.block(block.index))
            XCTAssertEqual(same, block.index != last, "block \(block.index)")
        }
    }

    func testTrainingFinalNormAloneWorks() {
        let p = TestSupport.randomParameters(config, seed: 5)
        let before = p.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 5)
        let lnf = config.layers + 1
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [lnf])
        XCTAssertEqual(trainer.gradientParameterCount, 2 * config.embedDim)
        let (full, _) = fullGradients(p, inputs, targets)
        _ = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
        XCTAssertEqual(Array(trainer.gradient(ofBlock: lnf)!), Array(full.gradient(ofBlock: lnf)!))
        trainer.applyAdamW(parameters: p, settings: AdamWSettings(learningRate: 1e-2))
        for block in p.layout.blocks {
            XCTAssertEqual(TestSupport.bitEqual(p.block(block.index), before.block(block.index)), block.index != lnf)
        }
    }

    func testNoGradientOrOptimizerMemoryForFrozenBlocks() {
        let layout = ParameterLayout(config: config)
        for subset: Set<Int> in [[1], [config.layers], [0, config.layers + 1], Set(0..<layout.blockCount), []] {
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: subset)
            let expected = subset.map { layout.blocks[$0].range.count }.reduce(0, +)
            XCTAssertEqual(trainer.gradientParameterCount, expected, "blocks \(subset.sorted())")
            XCTAssertEqual(trainer.optimizerStateParameterCount, 2 * expected, "blocks \(subset.sorted())")
        }
    }

    func testGradientOnlyTrainerAllocatesNoMomentsAndGivesTheSameGradients() {
        let p = TestSupport.randomParameters(config, seed: 10)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 10)
        let (full, fullLoss) = fullGradients(p, inputs, targets)
        let all = Set(0..<p.layout.blockCount)
        let lean = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: all, optimizerState: false)
        XCTAssertEqual(lean.optimizerStateParameterCount, 0)
        XCTAssertEqual(lean.gradientParameterCount, p.layout.parameterCount)
        XCTAssertEqual(lean.forwardBackward(parameters: p, inputs: inputs, targets: targets), fullLoss)
        XCTAssertTrue(TestSupport.bitEqual(lean.gradient(ofBlock: 1)!, full.gradient(ofBlock: 1)!))
    }

    func testActivationsAreKeptOnlyFromTheLowestTrainableBlockUp() {
        let L = config.layers
        func trainer(_ blocks: Set<Int>) -> GPTTrainer {
            GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: blocks)
        }
        let full = trainer(Set(0...(L + 1))), first = trainer([1]), last = trainer([L]), norm = trainer([L + 1])
        XCTAssertEqual(full.storedFrom, 0)
        XCTAssertEqual(first.storedFrom, 0)
        XCTAssertEqual(last.storedFrom, L - 1)
        XCTAssertEqual(norm.storedFrom, L)
        XCTAssertEqual(last.stored.count, 1)
        XCTAssertEqual(norm.stored.count, 0)
        XCTAssertLessThan(last.activationFloatCount, full.activationFloatCount)
        XCTAssertLessThan(norm.activationFloatCount, last.activationFloatCount)
    }

    func testFrozenTrainerOnlyComputesTheLoss() {
        let p = TestSupport.randomParameters(config, seed: 6)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 6)
        let (_, fullLoss) = fullGradients(p, inputs, targets)
        let frozen = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [])
        let before = p.copy()
        XCTAssertEqual(frozen.step(parameters: p, inputs: inputs, targets: targets, settings: AdamWSettings(learningRate: 1)), fullLoss)
        XCTAssertTrue(TestSupport.bitEqual(p.storage, before.storage))
    }

    func testResetOptimizerRestartsAdamW() {
        let p1 = TestSupport.randomParameters(config, seed: 8), p2 = p1.copy()
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 8)
        let settings = AdamWSettings(learningRate: 1e-2)
        let a = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [2])
        _ = a.step(parameters: p1, inputs: inputs, targets: targets, settings: settings)
        a.resetOptimizer()
        XCTAssertEqual(a.optimizerStep, 0)
        p1.assign(from: p2)
        _ = a.step(parameters: p1, inputs: inputs, targets: targets, settings: settings)
        let b = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [2])
        _ = b.step(parameters: p2, inputs: inputs, targets: targets, settings: settings)
        XCTAssertTrue(TestSupport.bitEqual(p1.storage, p2.storage))
    }

    func testIgnoredTargetsAreLeftOutOfTheMean() {
        let p = TestSupport.randomParameters(config, seed: 9)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 9)
        var masked = targets
        masked[0] = -1
        masked[5] = -100
        let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence)
        let logits = evaluator.logits(parameters: p, inputs: inputs)
        var sum = 0.0, count = 0
        for r in 0..<(batch * sequence) where masked[r] >= 0 {
            let row = logits[(r * config.vocabSize)..<((r + 1) * config.vocabSize)].map(Double.init)
            let m = row.max()!
            sum += log(row.map { exp($0 - m) }.reduce(0, +)) + m - row[Int(masked[r])]
            count += 1
        }
        let expected = sum / Double(count)
        XCTAssertEqual(evaluator.meanLoss(parameters: p, inputs: inputs, targets: masked), expected, accuracy: 1e-5)
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [0])
        XCTAssertEqual(Double(trainer.forwardBackward(parameters: p, inputs: inputs, targets: masked)), expected, accuracy: 1e-5)
    }
}
