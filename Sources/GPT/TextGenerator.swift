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
/// Each step runs the forward pass over the whole window (no key/value cache), on an
/// evaluator sized to the next power of two of the text so far (at most n_positions), and
/// reads the logits of the last position only. Causal attention makes the padding after it
/// irrelevant. That is quadratic in the length, which is fine for the short samples it is for.
public final class TextGenerator {
    public let parameters: ParameterBuffer
    private var evaluators: [Int: GPTEvaluator] = [:]

    public init(parameters: ParameterBuffer) {
        self.parameters = parameters
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
        for _ in 0..<max(options.tokens, 0) {
            let window = Array(text.suffix(context))
            let logits = lastLogits(window)
            let next = Self.pick(logits, options: options, rng: &rng)
            if next == stop { break }
            text.append(next)
            generated.append(next)
            emit(next)
        }
        return generated
    }

    /// The logits that follow `window` (at most n_positions ids).
    public func lastLogits(_ window: [Int32]) -> [Float] {
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
