import Kernels

/// The parts of the forward pass around the layers, shared by the trainer, the evaluator and the
/// cached decoder: the embedding, the final norm and the checks on token batches. The family says
/// whether block 0 holds learned positions and which norm comes last.
enum ForwardPass {
    /// The token embeddings, plus learned position embeddings when the family has them (from position
    /// `positionOffset` on), into `out` [B*T, C].
    static func embed(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>, _ d: Dims,
                      positionOffset: Int = 0) {
        let wte = p.base + p.layout.blocks[0].range.lowerBound
        let wpe: UnsafePointer<Float>? = d.config.family.learnsPositions
            ? UnsafePointer(wte + (d.vocab + positionOffset) * d.channels) : nil
        embeddingForward(out: out, tokens: tokens, wte: wte, wpe: wpe, batch: d.batch, seq: d.seq, channels: d.channels)
    }

    /// Backward of `embed` into block 0's gradient (`dwte` first, then the learned positions' `dwpe`),
    /// or with `shard` into that shard's gradient (its token rows, then `dwpe` if the shard holds it).
    static func embedBackward(gradient: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                              tokens: UnsafePointer<Int32>, shard: EmbeddingShard?, _ d: Dims) {
        let rows = shard?.rows(vocab: d.vocab) ?? 0..<d.vocab
        let positions = d.config.family.learnsPositions && (shard?.holdsPositions ?? true)
        let dwpe: UnsafeMutablePointer<Float>? = positions ? gradient + rows.count * d.channels : nil
        embeddingBackward(dwte: gradient, dwpe: dwpe, dout: dout, tokens: tokens, batch: d.batch, seq: d.seq,
                          channels: d.channels, vocabRows: shard == nil ? nil : rows)
    }

    /// Layers `range` through one reused layer's buffers, ping-ponging the residual stream between
    /// `layer.out` and `spare`; layers in `skipping` are the identity and are not read. Returns the
    /// buffer that holds the result (`input` itself when every layer is skipped).
    static func layersWithoutStoring(
        _ p: ParameterBuffer, _ range: Range<Int>, skipping: Set<Int> = [], input: UnsafeMutablePointer<Float>,
        spare: UnsafeMutablePointer<Float>, _ layer: DecoderLayer
    ) -> UnsafeMutablePointer<Float> {
        var current = input, other = spare
        for l in range where !skipping.contains(l) {
            layer.out = other
            layer.forward(p, l, input: current)
            swap(&current, &other)
        }
        return current
    }

    /// The final norm of the residual stream `input` into `out`; `mean` is unused by RMSNorm.
    static func finalNorm(
        _ p: ParameterBuffer, input: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, _ d: Dims
    ) {
        let norm = p.base + p.layout.blocks[d.config.finalNormBlock].range.lowerBound
        d.config.family.finalNorm.forward(out: out, mean: mean, rstd: rstd, inp: input, weight: norm,
                                          rows: d.rows, dim: d.channels, eps: d.eps)
    }

    /// Backward of `finalNorm`: `dinp` accumulated when given, the norm's weight (and bias) gradient
    /// into `gradient` (the final block's, laid out like it) when given.
    static func finalNormBackward(
        _ p: ParameterBuffer, dinp: UnsafeMutablePointer<Float>?, gradient: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, input: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, _ d: Dims
    ) {
        let norm = p.base + p.layout.blocks[d.config.finalNormBlock].range.lowerBound
        d.config.family.finalNorm.backward(dinp: dinp, gradient: gradient, dout: dout, inp: input, weight: norm,
                                           mean: mean, rstd: rstd, rows: d.rows, dim: d.channels)
    }

    /// Checks the batch's shape and that every token is in the vocabulary.
    static func checkTokens(_ tokens: [Int32], _ d: Dims, allowIgnored: Bool, what: String) {
        precondition(tokens.count == d.rows, "\(what): expected \(d.rows) = batch*sequence tokens, found \(tokens.count)")
        let low: Int32 = allowIgnored ? Int32.min : 0
        for t in tokens where t < low || t >= Int32(d.vocab) {
            preconditionFailure("\(what): token \(t) is outside the vocabulary 0..<\(d.vocab)")
        }
    }
}
