import XCTest
@testable import GPT

/// The key/value-cached decoder against the evaluator's full forward pass (batch 1), for GPT-2 and
/// for Llama with grouped-query attention, a head size other than C/H, and tied and untied heads.
final class KeyValueCacheTests: XCTestCase {
    static let gpt2 = GPTConfig(vocabSize: 37, contextLength: 24, embedDim: 16, layers: 3, heads: 4)
    /// 4 query heads over 2 key/value heads of 8 channels, in a width of 24 (24 / 4 = 6 ≠ 8); untied head.
    static let llamaGrouped = GPTConfig.llama(vocabSize: 37, contextLength: 24, embedDim: 24, layers: 3, heads: 4,
                                              keyValueHeads: 2, intermediateSize: 40, headDim: 8, ropeTheta: 500)
    /// As many key/value heads as query heads, the head tied to the embedding.
    static let llamaTied = GPTConfig.llama(vocabSize: 37, contextLength: 24, embedDim: 16, layers: 2, heads: 4,
                                           keyValueHeads: 4, intermediateSize: 28, tiedHead: true)
    static let configs = [("GPT-2", gpt2), ("Llama GQA untied", llamaGrouped), ("Llama tied", llamaTied)]

    /// max |a - b| / max |b|.
    func relativeError(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        XCTAssertEqual(a.count, b.count)
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.map(abs).max() ?? 0, 1e-30)
    }

    /// The evaluator's logits [text.count, vocab] over `text` as one sequence.
    func fullForwardLogits(_ p: ParameterBuffer, _ text: [Int32]) -> [Float] {
        GPTEvaluator(config: p.layout.config, batch: 1, sequence: text.count).logits(parameters: p, inputs: text)
    }

    func testTokenByTokenLogitsEqualTheFullForwardPassAtEveryPosition() {
        for (name, config) in Self.configs {
            let p = TestSupport.randomParameters(config, seed: 5)
            let text = TestSupport.tokens(config.contextLength, vocab: config.vocabSize, seed: 6)
            let reference = fullForwardLogits(p, text)
            let decoder = IncrementalDecoder(parameters: p)
            let v = config.vocabSize
            for (t, token) in text.enumerated() {
                let logits = decoder.append([token])
                XCTAssertEqual(decoder.count, t + 1)
                let error = relativeError(logits[...], reference[(t * v)..<((t + 1) * v)])
                XCTAssertLessThan(error, 1e-5, "\(name), position \(t)")
            }
        }
    }

    func testBlockPrefillInChunksThenStepsEqualsTheFullForwardPass() {
        for (name, config) in Self.configs {
            let p = TestSupport.randomParameters(config, seed: 7)
            let text = TestSupport.tokens(20, vocab: config.vocabSize, seed: 8)
            let reference = fullForwardLogits(p, text)
            let v = config.vocabSize
            // 13 prompt tokens in chunks of 5, 5 and 3 rows, then one token at a time.
            let decoder = IncrementalDecoder(parameters: p, chunkRows: 5)
            let prefill = decoder.append(Array(text.prefix(13)))
            XCTAssertLessThan(relativeError(prefill[...], reference[(12 * v)..<(13 * v)]), 1e-5, "\(name) prefill")
            for t in 13..<text.count {
                let logits = decoder.append([text[t]])
                XCTAssertLessThan(relativeError(logits[...], reference[(t * v)..<((t + 1) * v)]), 1e-5, "\(name), position \(t)")
            }
            // reset starts a new text at position 0.
            decoder.reset()
            let again = decoder.append(Array(text.prefix(4)))
            XCTAssertLessThan(relativeError(again[...], reference[(3 * v)..<(4 * v)]), 1e-5, "\(name) after reset")
        }
    }

    func testTheCacheGrowsWithoutLosingPositions() {
        // Capacity starts at 64 positions and doubles, capped at n_positions = 150.
        var gpt2 = Self.gpt2, llama = Self.llamaGrouped
        gpt2.contextLength = 150; llama.contextLength = 150
        for (name, config) in [("GPT-2", gpt2), ("Llama GQA untied", llama)] {
            let p = TestSupport.randomParameters(config, seed: 19)
            let text = TestSupport.tokens(150, vocab: config.vocabSize, seed: 20)
            let reference = fullForwardLogits(p, text)
            let v = config.vocabSize
            let decoder = IncrementalDecoder(parameters: p)
            var logits = decoder.append(Array(text.prefix(70)))  // chunks of 64 and 6 rows, growing to 128
            XCTAssertLessThan(relativeError(logits[...], reference[(69 * v)..<(70 * v)]), 1e-5, "\(name) prefill")
            for t in 70..<text.count {
                logits = decoder.append([text[t]])
                XCTAssertLessThan(relativeError(logits[...], reference[(t * v)..<((t + 1) * v)]), 1e-5, "\(name), position \(t)")
            }
            XCTAssertEqual(decoder.cache.capacity, 150)
        }
    }

    /// Greedy tokens by the evaluator over the last n_positions tokens of the text, one full pass per token.
    func greedyByFullForwardPasses(_ p: ParameterBuffer, prompt: [Int32], tokens: Int) -> [Int32] {
        let context = p.layout.config.contextLength, v = p.layout.config.vocabSize
        var text = prompt
        for _ in 0..<tokens {
            let window = Array(text.suffix(context))
            let last = Array(fullForwardLogits(p, window).suffix(v))
            text.append(Int32(last.indices.max { last[$0] < last[$1] }!))
        }
        return Array(text.dropFirst(prompt.count))
    }

    func testCachedGreedyGenerationEqualsFullForwardGreedyPastTheContextLength() {
        let greedy = SamplingOptions(tokens: 40, temperature: 0, topK: 0, seed: 1)
        for (name, config) in Self.configs {
            let p = TestSupport.randomParameters(config, seed: 11, std: 0.5)
            let prompt = TestSupport.tokens(5, vocab: config.vocabSize, seed: 12)
            // 5 + 40 tokens run 21 past the 24-token context, so the window slides.
            let cached = TextGenerator(parameters: p).generate(prompt: prompt, options: greedy)
            XCTAssertEqual(cached.count, 40)
            XCTAssertEqual(cached, greedyByFullForwardPasses(p, prompt: prompt, tokens: 40), name)
            let uncached = TextGenerator(parameters: p, keyValueCache: false).generate(prompt: prompt, options: greedy)
            XCTAssertEqual(cached, uncached, name)
            // Not a constant sequence, which would match by accident.
            XCTAssertGreaterThan(Set(cached).count, 3, name)
        }
    }

    func testAPromptLongerThanTheContextKeepsItsLastPositions() {
        let config = Self.llamaGrouped
        let p = TestSupport.randomParameters(config, seed: 13)
        let prompt = TestSupport.tokens(30, vocab: config.vocabSize, seed: 14)
        let greedy = SamplingOptions(tokens: 3, temperature: 0, topK: 0, seed: 1)
        let generated = TextGenerator(parameters: p).generate(prompt: prompt, options: greedy)
        XCTAssertEqual(generated, greedyByFullForwardPasses(p, prompt: prompt, tokens: 3))
    }

    func testSampledTextIsReproducibleAndMatchesTheUncachedGenerator() {
        let options = SamplingOptions(tokens: 50, temperature: 1.0, topK: 8, seed: 21)
        for (name, config) in Self.configs {
            let p = TestSupport.randomParameters(config, seed: 15)
            let generator = TextGenerator(parameters: p)
            let first = generator.generate(prompt: [1, 2], options: options)
            XCTAssertEqual(first, generator.generate(prompt: [1, 2], options: options), name)
            XCTAssertEqual(first, TextGenerator(parameters: p, keyValueCache: false).generate(prompt: [1, 2], options: options), name)
            let other = SamplingOptions(tokens: 50, temperature: 1.0, topK: 8, seed: 22)
            XCTAssertNotEqual(first, generator.generate(prompt: [1, 2], options: other), name)
        }
    }

    func testLastLogitsWithTheCacheEqualsTheFullForwardPass() {
        for (name, config) in Self.configs {
            let p = TestSupport.randomParameters(config, seed: 17)
            let window = TestSupport.tokens(config.contextLength, vocab: config.vocabSize, seed: 18)
            let cached = TextGenerator(parameters: p).lastLogits(window)
            let full = TextGenerator(parameters: p, keyValueCache: false).lastLogits(window)
            XCTAssertLessThan(relativeError(cached[...], full[...]), 1e-5, name)
        }
    }
}
