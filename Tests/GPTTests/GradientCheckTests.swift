import XCTest
@testable import GPT

/// Finite-difference checks of the analytic gradients, on fp32 with eps 1e-2 and Double accumulation.
final class GradientCheckTests: XCTestCase {
    /// Central differences in fp32 with eps = 1e-2 have truncation error ~eps^2 and rounding error
    /// ~1e-7 * loss / eps; relative to each tensor's largest probed gradient that is well below 1e-2.
    let tolerance = 1e-2

    func check(_ config: GPTConfig, batch: Int, sequence: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let p = TestSupport.randomParameters(config, seed: seed)
        var (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: seed)
        targets[1] = -1  // one ignored position
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: Set(0..<p.layout.blockCount))
        _ = trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)
        let fd = FiniteDifferences(config: config, batch: batch, sequence: sequence, parameters: p,
                                   inputs: inputs, targets: targets, eps: 1e-2, perTensor: 6)
        let results = fd.errors { slot, i in trainer.gradient(of: slot)![i] }
        print("worst finite-difference error:", results.map(\.error).max()!, results.max { $0.error < $1.error }!.name)
        for r in results {
            XCTAssertLessThan(r.error, tolerance, "gradient of \(r.name): relative error \(r.error)", file: file, line: line)
            XCTAssertGreaterThan(r.scale, 1e-4, "gradient of \(r.name) is too small to test", file: file, line: line)
        }
        // The same check must reject a gradient that is wrong by 5% in any one tensor.
        for wrong in p.layout.tensors {
            let bad = fd.errors { slot, i in
                let g = trainer.gradient(of: slot)![i]
                return slot == wrong ? g * 1.05 : g
            }
            let error = bad.first { $0.name == wrong.name }!.error
            XCTAssertGreaterThan(error, tolerance, "a 5% error in \(wrong.name) went unnoticed", file: file, line: line)
        }
    }

    func testTinyConfigGradientsMatchFiniteDifferences() {
        check(TestSupport.tiny, batch: 2, sequence: 5, seed: 7)
    }

    /// Another shape: more layers and heads, odd sizes, sequence of the full context (and not a multiple of 8).
    func testOtherConfigGradientsMatchFiniteDifferences() {
        let config = GPTConfig(vocabSize: 37, contextLength: 13, embedDim: 12, layers: 3, heads: 3, layerNormEpsilon: 1e-6)
        check(config, batch: 3, sequence: 13, seed: 11)
    }

    /// Llama: RMSNorm, RoPE, the gated MLP and grouped-query attention (3 query heads per key/value
    /// head), an untied head, and a rope_theta and rms_norm_eps away from the defaults.
    func testLlamaGradientsMatchFiniteDifferences() {
        let config = GPTConfig.llama(vocabSize: 19, contextLength: 9, embedDim: 12, layers: 2, heads: 6, keyValueHeads: 2,
                                     intermediateSize: 20, headDim: 4, ropeTheta: 500, rmsNormEpsilon: 1e-4)
        check(config, batch: 2, sequence: 9, seed: 5)
    }

    /// Llama with a tied head, one key/value head per query head and head_dim wider than width / heads.
    func testTiedLlamaGradientsMatchFiniteDifferences() {
        let config = GPTConfig.llama(vocabSize: 13, contextLength: 6, embedDim: 8, layers: 2, heads: 2, keyValueHeads: 2,
                                     intermediateSize: 12, headDim: 6, tiedHead: true)
        check(config, batch: 2, sequence: 6, seed: 9)
    }
}
