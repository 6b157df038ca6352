import XCTest
@testable import GPT

final class DeterminismTests: XCTestCase {
    let config = GPTConfig(vocabSize: 50, contextLength: 16, embedDim: 32, layers: 2, heads: 4)

    func testSameSeedGivesIdenticalInitialisation() {
        let layout = ParameterLayout(config: config)
        let a = ParameterBuffer.initialized(layout: layout, seed: 42)
        let b = ParameterBuffer.initialized(layout: layout, seed: 42)
        let c = ParameterBuffer.initialized(layout: layout, seed: 43)
        XCTAssertTrue(TestSupport.bitEqual(a.storage, b.storage))
        XCTAssertFalse(TestSupport.bitEqual(a.storage, c.storage))
    }

    func testInitialisationFollowsGPT2() throws {
        let layout = ParameterLayout(config: config)
        let p = ParameterBuffer.initialized(layout: layout, seed: 1)
        func std(_ name: String) throws -> Double {
            let t = try XCTUnwrap(p.tensor(named: name))
            let mean = t.reduce(0.0) { $0 + Double($1) } / Double(t.count)
            return (t.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(t.count)).squareRoot()
        }
        XCTAssertEqual(try std("transformer.wte.weight"), 0.02, accuracy: 0.002)
        XCTAssertEqual(try std("transformer.h.0.mlp.c_fc.weight"), 0.02, accuracy: 0.002)
        XCTAssertEqual(try std("transformer.h.1.attn.c_proj.weight"), 0.02 / 2, accuracy: 0.001)
        XCTAssertEqual(try std("transformer.h.1.mlp.c_proj.weight"), 0.02 / 2, accuracy: 0.001)
        XCTAssertTrue(try XCTUnwrap(p.tensor(named: "transformer.h.0.ln_1.weight")).allSatisfy { $0 == 1 })
        XCTAssertTrue(try XCTUnwrap(p.tensor(named: "transformer.ln_f.bias")).allSatisfy { $0 == 0 })
        XCTAssertTrue(try XCTUnwrap(p.tensor(named: "transformer.h.0.attn.c_attn.bias")).allSatisfy { $0 == 0 })
    }

    func testTwoTrainingRunsAreBitIdentical() {
        func run() -> (ParameterBuffer, [Float]) {
            let p = ParameterBuffer.initialized(layout: ParameterLayout(config: config), seed: 9)
            let trainer = GPTTrainer(config: config, batch: 3, sequence: 16, trainableBlocks: Set(0...3))
            var losses: [Float] = []
            for step in 0..<3 {
                let (x, y) = TestSupport.batch(config, batch: 3, sequence: 16, seed: UInt64(step))
                losses.append(trainer.step(parameters: p, inputs: x, targets: y, settings: AdamWSettings(learningRate: 1e-3)))
            }
            return (p, losses)
        }
        let (a, la) = run(), (b, lb) = run()
        XCTAssertEqual(la.map(\.bitPattern), lb.map(\.bitPattern))
        XCTAssertTrue(TestSupport.bitEqual(a.storage, b.storage))
    }

    func testLayoutIsContiguousInBlockOrder() {
        let layout = ParameterLayout(config: config)
        XCTAssertEqual(layout.blockCount, config.layers + 2)
        XCTAssertEqual(layout.blocks.map(\.name), ["embeddings", "h.0", "h.1", "ln_f"])
        var next = 0
        for block in layout.blocks {
            XCTAssertEqual(block.range.lowerBound, next)
            next = block.range.upperBound
            let tensors = layout.tensors.filter { $0.block == block.index }
            XCTAssertEqual(tensors.first?.offset, block.range.lowerBound)
            XCTAssertEqual(tensors.map(\.count).reduce(0, +), block.range.count)
        }
        XCTAssertEqual(next, layout.parameterCount)
        let c = config.embedDim, v = config.vocabSize, p = config.contextLength
        XCTAssertEqual(layout.parameterCount, v * c + p * c + config.layers * (12 * c * c + 13 * c) + 2 * c)
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.attn.c_attn.weight")?.shape, [c, 3 * c])
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.mlp.c_proj.weight")?.shape, [4 * c, c])
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.mlp.c_proj.weight")?.block, 2)
        XCTAssertNil(layout.tensor(named: "lm_head.weight"))
    }
}
