import Kernels

/// Decodes one sequence (batch 1) with a key/value cache, either family: each appended token runs
/// one row through every layer (matrix-vector products, attention over the cached keys and values)
/// instead of a forward pass over the whole window.
///
/// The rows go through the family's own layer (`DecoderLayer`'s cached forward: the training code
/// on those rows), with position embeddings or RoPE angles offset by the positions already cached.
/// A prompt is fed through the same path in blocks of up to `chunkRows` rows (matrix-matrix products).
/// Positions run up to the context length; what to do past that is the caller's choice
/// (`TextGenerator` starts over on the last context-length tokens). Not thread-safe: one decoder per thread.
public final class IncrementalDecoder {
    public let parameters: ParameterBuffer
    public let config: GPTConfig
    /// The most rows one pass through the layers takes; longer inputs go through in blocks of this many.
    public let chunkRows: Int
    let cache: KeyValueCache
    private let storage = FloatStorage()
    /// One layer's buffers, reused by every layer, its output the residual stream of the rows being
    /// appended [chunkRows, C] (updated in place).
    private let layer: DecoderLayer
    private let residual, finalRow, normMean, normRstd: UnsafeMutablePointer<Float>

    /// A decoder with an empty cache for `parameters`' model.
    public init(parameters: ParameterBuffer, chunkRows: Int = 64) {
        precondition(chunkRows > 0, "chunkRows must be positive")
        let c = parameters.layout.config
        self.parameters = parameters; config = c
        self.chunkRows = chunkRows
        cache = KeyValueCache(config: c, maxQueryRows: chunkRows)
        // No chunk is longer than the context, so the layer needs at most that many rows.
        let dims = Dims(config: c, batch: 1, sequence: min(chunkRows, c.contextLength))
        residual = storage.make(dims.rows * c.embedDim)
        layer = c.family.layerFactory(storage: storage, dims: dims, backward: false, dln: residual)
            .makeLayer(out: residual, keepForBackward: false, trains: false)
        finalRow = storage.make(c.embedDim); normMean = storage.make(1); normRstd = storage.make(1)
    }

    /// Positions cached so far: the tokens appended since the last `reset`.
    public var count: Int { cache.count }

    /// Empties the cache, to decode another text (or a slid window) from position 0.
    public func reset() { cache.clear() }

    /// Feeds `tokens` at positions count..<count+tokens.count and returns the logits [vocab] that
    /// follow the last of them. The positions must stay within the context length.
    public func append(_ tokens: [Int32]) -> [Float] {
        precondition(!tokens.isEmpty, "append needs at least one token")
        precondition(count + tokens.count <= config.contextLength,
                     "\(count + tokens.count) positions exceed the context length \(config.contextLength); reset and feed the last ones")
        for t in tokens where t < 0 || t >= Int32(config.vocabSize) {
            preconditionFailure("token \(t) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        var start = 0, rows = 0
        while start < tokens.count {
            rows = min(chunkRows, tokens.count - start)
            tokens.withUnsafeBufferPointer { forwardChunk($0.baseAddress! + start, rows: rows) }
            start += rows
        }
        return logits(ofRow: rows - 1)
    }

    /// Runs `rows` tokens through every layer into `residual`, caching their keys and values.
    private func forwardChunk(_ tokens: UnsafePointer<Int32>, rows: Int) {
        let p = parameters, position = cache.count
        precondition(p.layout.matches(config), "parameters do not match the decoder's config")
        cache.reserve(position + rows)
        ForwardPass.embed(p, tokens: tokens, out: residual, Dims(config: config, batch: 1, sequence: rows), positionOffset: position)
        for l in 0..<config.layers {
            layer.forward(p, l, input: residual, rows: rows, cache: cache)
        }
        cache.advance(by: rows)
    }

    /// The final norm and the head on row `row` of the last chunk.
    private func logits(ofRow row: Int) -> [Float] {
        let p = parameters, c = config
        ForwardPass.finalNorm(p, input: residual + row * c.embedDim, out: finalRow, mean: normMean, rstd: normRstd,
                              Dims(config: c, batch: 1, sequence: 1))
        return [Float](unsafeUninitializedCapacity: c.vocabSize) { buffer, initialized in
            headForward(logits: buffer.baseAddress!, inp: finalRow, head: p.base + p.layout.headOffset,
                        rows: 1, dim: c.embedDim, vocab: c.vocabSize)
            initialized = c.vocabSize
        }
    }
}
