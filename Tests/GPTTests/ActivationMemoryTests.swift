import Kernels
import XCTest
@testable import GPT

/// `ActivationMemory` counts exactly the floats the trainer and the evaluator allocate.
final class ActivationMemoryTests: XCTestCase {
    let configs: [GPTConfig] = [
        GPTConfig(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 2),
        .llama(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 4, keyValueHeads: 2, intermediateSize: 24, headDim: 6),
        .llama(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 2, keyValueHeads: 2, intermediateSize: 40, tiedHead: true),
    ]

    func testTrainerCountsEqualWhatIsAllocated() {
        for config in configs {
            let cases: [(Set<Int>, Set<Int>)] = [([], []), ([0], []), ([1], []), ([2], []), ([3], []), ([4], []),
                                                 ([0, 1, 2, 3, 4], []), ([3], [0]), ([1], [1, 2]), ([2], [0, 2]),
                                                 ([1, 2, 3], []), ([0, 3], [1])]
            for (blocks, skipped) in cases {
                let trainer = GPTTrainer(config: config, batch: 2, sequence: 9, trainableBlocks: blocks, skippedLayers: skipped)
                let counted = ActivationMemory.trainer(config: config, batch: 2, sequence: 9, trainableBlocks: blocks,
                                                       skipped: skipped, threads: BLAS.threads)
                XCTAssertEqual(counted, Double(trainer.activationFloatCount),
                               "\(config.architecture) blocks \(blocks.sorted()) skipped \(skipped.sorted())")
            }
        }
    }

    func testLoRATrainerCountsEqualWhatIsAllocated() {
        for config in configs {
            let lora = LoRAConfig(rank: 2, alpha: 4)
            let trainer = LoRATrainer(model: config, lora: lora, batch: 2, sequence: 9)
            XCTAssertEqual(ActivationMemory.loraTrainer(config: config, lora: lora, batch: 2, sequence: 9, threads: BLAS.threads),
                           Double(trainer.memoryFloatCount), "\(config.architecture)")
        }
    }

    func testEvaluatorCountsEqualWhatIsAllocated() {
        for config in configs {
            let evaluator = GPTEvaluator(config: config, batch: 3, sequence: 7)
            XCTAssertEqual(ActivationMemory.evaluator(config: config, batch: 3, sequence: 7, threads: BLAS.threads),
                           Double(evaluator.activationFloatCount), "\(config.architecture)")
        }
    }

    /// The head's logits chunk: the whole batch when small, about 32 MB at a large vocabulary and
    /// narrow width, and as many rows as the width once the head weight itself is larger than that.
    func testHeadChunkRows() {
        XCTAssertEqual(ActivationMemory.headChunkRows(rows: 1024, vocab: 256, width: 256), 1024)
        XCTAssertEqual(ActivationMemory.headChunkRows(rows: 2048, vocab: 50257, width: 128), 166)
        XCTAssertEqual(ActivationMemory.headChunkRows(rows: 1024, vocab: 50257, width: 768), 768)
        XCTAssertEqual(ActivationMemory.headChunkRows(rows: 512, vocab: 50257, width: 768), 512)
        let dims = Dims(config: GPTConfig(vocabSize: 50257, contextLength: 256, embedDim: 768, layers: 1, heads: 12),
                        batch: 4, sequence: 256)
        XCTAssertEqual(dims.headChunkRows, 768)
    }
}

/// The analytic sizes the job sizing uses equal the layouts' own counts.
final class AnalyticSizeTests: XCTestCase {
    func testBlockAndAdapterSizesEqualTheLayouts() {
        let configs: [GPTConfig] = [
            GPTConfig(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 2),
            .llama(vocabSize: 23, contextLength: 12, embedDim: 16, layers: 3, heads: 4, keyValueHeads: 2, intermediateSize: 24, headDim: 6),
            .llama(vocabSize: 29, contextLength: 12, embedDim: 16, layers: 2, heads: 2, keyValueHeads: 1, intermediateSize: 40, tiedHead: true),
        ]
        for config in configs {
            let layout = ParameterLayout(config: config)
            let sizes = ParameterLayout.blockSizes(config)
            XCTAssertEqual(sizes.embeddings, Double(layout.blocks[0].range.count))
            XCTAssertEqual(sizes.layer, Double(layout.blocks[1].range.count))
            XCTAssertEqual(sizes.final, Double(layout.blocks[config.layers + 1].range.count))
            XCTAssertEqual(LoRALayout.parameterCount(model: config, rank: 3),
                           Double(LoRALayout(model: config, lora: LoRAConfig(rank: 3, alpha: 6)).parameterCount))
        }
    }
}
