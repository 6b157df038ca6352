import Kernels

/// Decodes one sequence (batch 1) with a key/value cache, GPT-2 or Llama: each appended token runs
/// one row through every layer (matrix-vector products, attention over the cached keys and values)
/// instead of a forward pass over the whole window.
///
/// The per-layer math is that of `GPT2Layer` and `LlamaLayer` on the rows being appended, with
/// position embeddings (GPT-2) or RoPE angles (Llama) offset by the positions already cached. A
/// prompt is fed through the same path in blocks of up to `chunkRows` rows (matrix-matrix products).
/// Positions run up to n_positions; what to do past that is the caller's choice (`TextGenerator`
/// starts over on the last n_positions tokens). Not thread-safe: one decoder per thread.
public final class IncrementalDecoder {
    public let parameters: ParameterBuffer
    public let config: GPTConfig
    /// The most rows one pass through the layers takes; longer inputs go through in blocks of this many.
    public let chunkRows: Int
    let cache: KeyValueCache
    private let storage = FloatStorage()
    /// The residual stream of the rows being appended [chunkRows, C]; also each layer's output.
    private let residual, afterAttention, normed, normMean, normRstd: UnsafeMutablePointer<Float>
    private let qkv, attended, hidden, activated, finalRow: UnsafeMutablePointer<Float>
    /// Llama's cos/sin table, as long as the cache's capacity.
    private var rotary: RotaryTable?

    /// A decoder with an empty cache for `parameters`' model.
    public init(parameters: ParameterBuffer, chunkRows: Int = 64) {
        precondition(chunkRows > 0, "chunkRows must be positive")
        let c = parameters.layout.config
        self.parameters = parameters; config = c
        self.chunkRows = chunkRows
        cache = KeyValueCache(config: c, maxQueryRows: chunkRows)
        let rows = chunkRows, width = c.embedDim
        residual = storage.make(rows * width); afterAttention = storage.make(rows * width)
        normed = storage.make(rows * width); normMean = storage.make(rows); normRstd = storage.make(rows)
        qkv = storage.make(rows * c.qkvWidth); attended = storage.make(rows * c.attentionWidth)
        let gpt2 = c.architecture == .gpt2
        hidden = storage.make(rows * (gpt2 ? 4 * width : 2 * c.intermediateSize))
        activated = storage.make(gpt2 ? 0 : rows * c.intermediateSize)
        finalRow = storage.make(width)
    }

    /// Positions cached so far: the tokens appended since the last `reset`.
    public var count: Int { cache.count }

    /// Empties the cache, to decode another text (or a slid window) from position 0.
    public func reset() { cache.clear() }

    /// Feeds `tokens` at positions count..<count+tokens.count and returns the logits [vocab] that
    /// follow the last of them. The positions must stay within n_positions.
    public func append(_ tokens: [Int32]) -> [Float] {
        precondition(!tokens.isEmpty, "append needs at least one token")
        precondition(count + tokens.count <= config.contextLength,
                     "\(count + tokens.count) positions exceed n_positions \(config.contextLength); reset and feed the last ones")
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
        let p = parameters, c = config, position = cache.count
        precondition(p.layout.matches(c), "parameters do not match the decoder's config")
        cache.reserve(position + rows)
        if c.architecture == .llama && (rotary?.positions ?? 0) < cache.capacity {
            rotary = RotaryTable(headDim: c.headDim, positions: cache.capacity, theta: c.ropeTheta, scaling: c.ropeScaling)
        }
        let wte = p.base + p.layout.blocks[0].range.lowerBound
        let wpe: UnsafePointer<Float>? = c.architecture == .gpt2 ? UnsafePointer(wte + (c.vocabSize + position) * c.embedDim) : nil
        embeddingForward(out: residual, tokens: tokens, wte: wte, wpe: wpe, batch: 1, seq: rows, channels: c.embedDim)
        for l in 0..<c.layers {
            switch c.architecture {
            case .gpt2: gpt2Layer(l, rows: rows)
            case .llama: llamaLayer(l, rows: rows)
            }
        }
        cache.advance(by: rows)
    }

    /// `GPT2Layer.forward` on the appended rows, `residual` updated in place.
    private func gpt2Layer(_ l: Int, rows: Int) {
        let p = parameters, c = config.embedDim, eps = config.layerNormEpsilon
        func w(_ t: GPT2LayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        layerNormForward(out: normed, mean: normMean, rstd: normRstd, inp: residual,
                         weight: w(.ln1Weight), bias: w(.ln1Bias), rows: rows, dim: c, eps: eps)
        matmulForward(out: qkv, inp: normed, weight: w(.qkvWeight), bias: w(.qkvBias), rows: rows, inDim: c, outDim: 3 * c)
        attend(l, rows: rows)
        matmulForward(out: afterAttention, inp: attended, weight: w(.attnProjWeight), bias: w(.attnProjBias),
                      rows: rows, inDim: c, outDim: c, residual: residual)
        layerNormForward(out: normed, mean: normMean, rstd: normRstd, inp: afterAttention,
                         weight: w(.ln2Weight), bias: w(.ln2Bias), rows: rows, dim: c, eps: eps)
        matmulForward(out: hidden, inp: normed, weight: w(.fcWeight), bias: w(.fcBias), rows: rows, inDim: c, outDim: 4 * c)
        geluForward(out: hidden, inp: hidden, count: rows * 4 * c)
        matmulForward(out: residual, inp: hidden, weight: w(.fcProjWeight), bias: w(.fcProjBias),
                      rows: rows, inDim: 4 * c, outDim: c, residual: afterAttention)
    }

    /// `LlamaLayer.forward` on the appended rows, `residual` updated in place; RoPE at their positions.
    private func llamaLayer(_ l: Int, rows: Int) {
        let p = parameters, c = config, width = c.embedDim, eps = c.layerNormEpsilon, mlp = c.intermediateSize
        func w(_ t: LlamaLayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        rmsNormForward(out: normed, rstd: normRstd, inp: residual, weight: w(.inputNorm), rows: rows, dim: width, eps: eps)
        linearForward(out: qkv, inp: normed, weight: w(.query), rows: rows, inDim: width, outDim: c.qkvWidth)
        ropeRotate(qkv, rowStride: c.qkvWidth, firstColumn: 0, heads: c.heads + c.keyValueHeads, headDim: c.headDim,
                   batch: 1, seq: rows, positionOffset: cache.count, table: rotary!, inverse: false)
        attend(l, rows: rows)
        linearForward(out: afterAttention, inp: attended, weight: w(.output), rows: rows, inDim: c.attentionWidth,
                      outDim: width, residual: residual)
        rmsNormForward(out: normed, rstd: normRstd, inp: afterAttention, weight: w(.postAttentionNorm), rows: rows, dim: width, eps: eps)
        linearForward(out: hidden, inp: normed, weight: w(.gate), rows: rows, inDim: width, outDim: 2 * mlp)
        swigluForward(out: activated, gateUp: hidden, rows: rows, hidden: mlp)
        linearForward(out: residual, inp: activated, weight: w(.down), rows: rows, inDim: mlp, outDim: width,
                      residual: afterAttention)
    }

    /// Caches the rows' keys and values (columns after the query heads of `qkv`, in both layouts)
    /// and attends from their queries over every cached position up to each row's own.
    private func attend(_ l: Int, rows: Int) {
        let c = config
        cache.store(layer: l, packed: qkv, stride: c.qkvWidth, keyColumn: c.attentionWidth, rows: rows)
        cache.attend(layer: l, queries: qkv, queryStride: c.qkvWidth, rows: rows, out: attended)
    }

    /// The final norm and the head on row `row` of the last chunk.
    private func logits(ofRow row: Int) -> [Float] {
        let p = parameters, c = config
        ForwardPass.finalNorm(p, input: residual + row * c.embedDim, out: finalRow, mean: normMean, rstd: normRstd,
                              Dims(config: c, batch: 1, sequence: 1))
        return [Float](unsafeUninitializedCapacity: c.vocabSize) { buffer, initialized in
            tiedHeadForward(logits: buffer.baseAddress!, inp: finalRow, wte: p.base + p.layout.headOffset,
                            rows: 1, dim: c.embedDim, vocab: c.vocabSize)
            initialized = c.vocabSize
        }
    }
}
