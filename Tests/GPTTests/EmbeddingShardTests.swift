import XCTest
@testable import GPT

/// The embedding trained in vocabulary shards (`train.embedding_shards`): each shard's gradient is
/// its slice of the whole embedding's, bit for bit, and only its rows train.
final class EmbeddingShardTests: XCTestCase {
    let batch = 2, sequence = 9
    /// A vocabulary of 70 rows (groups of 16, 16, 16, 16, 6), and one of 4000 whose head gradient
    /// is large enough for `parallelSgemm` to split it between threads.
    let configs: [GPTConfig] = [
        GPTConfig(vocabSize: 70, contextLength: 12, embedDim: 16, layers: 2, heads: 2),
        GPTConfig(vocabSize: 4000, contextLength: 12, embedDim: 64, layers: 1, heads: 2),
        .llama(vocabSize: 70, contextLength: 12, embedDim: 16, layers: 2, heads: 4, keyValueHeads: 2,
               intermediateSize: 24, tiedHead: true),
        .llama(vocabSize: 70, contextLength: 12, embedDim: 16, layers: 2, heads: 4, keyValueHeads: 2,
               intermediateSize: 24, tiedHead: false),
    ]

    func testShardsTileTheEmbeddingBlockAndTheLastHoldsGPT2Positions() {
        for config in configs {
            let layout = ParameterLayout(config: config)
            for count in [1, 3, 4, 5] {
                let ranges = (0..<count).map { EmbeddingShard(index: $0, of: count).range(in: layout) }
                XCTAssertEqual(ranges.first?.lowerBound, layout.blocks[0].range.lowerBound)
                XCTAssertEqual(ranges.last?.upperBound, layout.blocks[0].range.upperBound)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let largest = ranges.map(\.count).max()!
                XCTAssertEqual(EmbeddingShard.largestFloats(config, shards: count), Double(largest), "\(count) shards")
            }
        }
    }

    /// Without a tied head the embedding's gradient is the lookup's scatter-add alone, which a shard
    /// does in the same order: bit for bit. A tied head adds `dlogits^T @ lnf` for the shard's rows,
    /// one BLAS product over a row slice of the vocabulary, and OpenBLAS tiles a slice differently
    /// from the whole product (and picks other kernels for small ones), so those rows agree to
    /// float rounding only: within 1e-5 of the gradient's largest value.
    func testShardGradientsEqualSlicesOfTheWholeEmbeddingGradient() {
        for config in configs {
            let p = TestSupport.randomParameters(config, seed: 7)
            let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 7)
            let whole = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [0])
            let wholeLoss = whole.forwardBackward(parameters: p, inputs: inputs, targets: targets)
            let reference = Array(whole.gradient(ofBlock: 0)!)
            let scale = reference.map(abs).max()!
            let base = p.layout.blocks[0].range.lowerBound
            for count in [3, 4] {
                var covered = 0
                for index in 0..<count {
                    let shard = EmbeddingShard(index: index, of: count)
                    let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [0],
                                             embeddingShard: shard)
                    let loss = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
                    XCTAssertEqual(loss.bitPattern, wholeLoss.bitPattern)
                    let range = shard.range(in: p.layout)
                    XCTAssertEqual(trainer.trainedRange(ofBlock: 0), range)
                    XCTAssertEqual(trainer.gradientParameterCount, range.count)
                    XCTAssertEqual(trainer.optimizerStateParameterCount, 2 * range.count)
                    let ours = Array(trainer.gradient(ofBlock: 0)!)
                    let slice = Array(reference[(range.lowerBound - base)..<(range.upperBound - base)])
                    let what = "\(config.architecture) V=\(config.vocabSize) shard \(index) of \(count)"
                    if config.tiedHead {
                        let worst = zip(ours, slice).map { abs($0 - $1) }.max()!
                        XCTAssertLessThanOrEqual(worst, 1e-5 * scale, what)
                    } else {
                        XCTAssertEqual(ours.map(\.bitPattern), slice.map(\.bitPattern), what)
                    }
                    XCTAssertTrue(ours.contains { $0 != 0 }, "\(what) has a gradient")
                    covered += range.count
                }
                XCTAssertEqual(covered, p.layout.blocks[0].range.count)
            }
        }
    }

    /// A shard's rows are computed alike wherever it trains: two trainers of the same shard agree
    /// bit for bit, which is what makes a sharded run the same on any number of ranks.
    func testAShardGradientIsReproducible() {
        let config = configs[1]
        let p = TestSupport.randomParameters(config, seed: 9)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 9)
        let gradients = (0..<2).map { _ -> [UInt32] in
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [0],
                                     embeddingShard: EmbeddingShard(index: 2, of: 3))
            _ = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
            return trainer.gradient(ofBlock: 0)!.map(\.bitPattern)
        }
        XCTAssertEqual(gradients[0], gradients[1])
    }

    func testTrainingAShardChangesOnlyItsRows() {
        for config in configs {
            let p = TestSupport.randomParameters(config, seed: 8)
            let before = p.copy()
            let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 8)
            let shard = EmbeddingShard(index: 1, of: 3)
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: [0], embeddingShard: shard)
            for _ in 0..<2 {
                _ = trainer.step(parameters: p, inputs: inputs, targets: targets, settings: AdamWSettings(learningRate: 1e-2))
            }
            let range = shard.range(in: p.layout)
            for i in 0..<p.layout.parameterCount {
                let changed = p.base[i].bitPattern != before.base[i].bitPattern
                if changed { XCTAssertTrue(range.contains(i), "\(config.architecture): parameter \(i) outside the shard changed") }
            }
            XCTAssertTrue(range.contains { p.base[$0] != before.base[$0] }, "the shard trained")
        }
    }
}
