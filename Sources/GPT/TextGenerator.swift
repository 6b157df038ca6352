import Determinism
import Foundation
import Kernels

/// How `TextGenerator` picks each next token.
public struct SamplingOptions: Sendable {
    /// Tokens to generate.
    public var tokens: Int
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    public var temperature: Double
    /// Sample only among the k most likely tokens; 0 means all of them.
    public var topK: Int
    /// The same seed, prompt and model give the same text.
    public var seed: UInt64

    public init(tokens: Int = 200, temperature: Double = 0.8, topK: Int = 40, seed: UInt64 = 1) {
        self.tokens = tokens; self.temperature = temperature; self.topK = topK; self.seed = seed
    }
}

/// Autoregressive sampling from a model, one token at a time.
///
/// By default each step feeds only the newest token through an `IncrementalDecoder` (key/value cache);
/// the prompt goes through it in blocks. Once the text is longer than n_positions, the window slides:
/// every position changes, so each further step starts the cache over on the last n_positions tokens
/// (one block pass, as costly as a step without the cache). Without the cache each step runs the
/// forward pass over the whole window on an evaluator sized to the next power of two of the text so
/// far (at most n_positions) and reads the last position's logits; causal attention makes the padding
/// after it irrelevant. Both give the same text up to float rounding.
public final class TextGenerator {
    public let parameters: ParameterBuffer
    /// Whether `generate` and `lastLogits` use the key/value cache (false: a full forward pass per token).
    public let usesKeyValueCache: Bool
    private var evaluators: [Int: GPTEvaluator] = [:]
    private lazy var decoder = IncrementalDecoder(parameters: parameters)

    public init(parameters: ParameterBuffer, keyValueCache: Bool = true) {
        self.parameters = parameters
        usesKeyValueCache = keyValueCache
    }

    /// Generates up to `options.tokens` ids after `prompt` (which must not be empty), stopping
    /// early at `stop`; calls `emit` with each new id as it comes.
    public func generate(prompt: [Int32], options: SamplingOptions, stop: Int32? = nil,
                         emit: (Int32) -> Void = { _ in }) -> [Int32] {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        let context = parameters.layout.config.contextLength
        var rng = CounterRNG(seed: options.seed, purpose: .sampling)
        var text = prompt
        var generated: [Int32] = []
        if usesKeyValueCache { decoder.reset() }
        for _ in 0..<max(options.tokens, 0) {
            let logits = usesKeyValueCache ? cachedLogits(after: text) : lastLogits(Array(text.suffix(context)))
            let next = Self.pick(logits, options: options, rng: &rng)
            if next == stop { break }
            text.append(next)
            generated.append(next)
            emit(next)
        }
        return generated
    }

    /// The logits after `text`, whose first `decoder.count` tokens the cache holds: feeds the rest,
    /// or, once the text outgrows n_positions, starts over on its last n_positions tokens.
    private func cachedLogits(after text: [Int32]) -> [Float] {
        let context = parameters.layout.config.contextLength
        if text.count <= context && decoder.count < text.count {
            return decoder.append(Array(text[decoder.count...]))
        }
        decoder.reset()
        return decoder.append(Array(text.suffix(context)))
    }

    /// The logits that follow `window` (at most n_positions ids).
    public func lastLogits(_ window: [Int32]) -> [Float] {
        if usesKeyValueCache {
            decoder.reset()
            return decoder.append(window)
        }
        return fullForwardLogits(window)
    }

    /// `lastLogits` by a forward pass over the whole window, padded to a power of two.
    private func fullForwardLogits(_ window: [Int32]) -> [Float] {
        let context = parameters.layout.config.contextLength
        var length = 16
        while length < window.count { length *= 2 }
        length = min(length, context)
        let evaluator = evaluators[length] ?? GPTEvaluator(config: parameters.layout.config, batch: 1, sequence: length)
        evaluators[length] = evaluator
        var inputs = window
        inputs.append(contentsOf: repeatElement(0, count: length - window.count))
        evaluator.forward(parameters, inputs)
        _ = evaluator.headChunk(parameters, window.count - 1, 1, targets: nil)
        return Array(UnsafeBufferPointer(start: evaluator.logitsChunk, count: evaluator.dims.vocab))
    }

    /// Greedy at temperature 0; otherwise a draw from softmax(logits / T) over the top k.
    static func pick(_ logits: [Float], options: SamplingOptions, rng: inout CounterRNG) -> Int32 {
        var order = Array(logits.indices)
        if options.temperature <= 0 {
            return Int32(order.max { logits[$0] < logits[$1] } ?? 0)
        }
        // Ties broken by index, so the candidate set never depends on the sort's stability.
        order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if options.topK > 0 { order = Array(order.prefix(options.topK)) }
        let top = Double(logits[order[0]])
        let weights = order.map { Foundation.exp((Double(logits[$0]) - top) / options.temperature) }
        var draw = Double(rng.nextUnitFloat()) * weights.reduce(0, +)
        for (k, weight) in zip(order, weights) {
            draw -= weight
            if draw < 0 { return Int32(k) }
        }
        return Int32(order[order.count - 1])
    }
}
