import Kernels

/// The GPT-2 forward pass, shared by the trainer and the evaluator.
enum ForwardPass {
    /// The token and position embeddings into `out` [B*T, C].
    static func embed(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>, _ d: Dims) {
        let wte = p.base + p.layout.blocks[0].range.lowerBound
        let wpe = wte + d.vocab * d.channels
        embeddingForward(out: out, tokens: tokens, wte: wte, wpe: wpe, batch: d.batch, seq: d.seq, channels: d.channels)
    }

    /// One pre-LN transformer layer from the residual stream `input` to `a.out`.
    static func layer(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, _ a: LayerActivations, _ d: Dims) {
        let w = LayerWeights(base: p.base, layout: p.layout, layer: l)
        let rows = d.rows, c = d.channels
        layerNormForward(out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, inp: input,
                         weight: w[.ln1Weight], bias: w[.ln1Bias], rows: rows, dim: c, eps: d.eps)
        matmulForward(out: a.qkv, inp: a.ln1, weight: w[.qkvWeight], bias: w[.qkvBias], rows: rows, inDim: c, outDim: 3 * c)
        attentionForward(out: a.atty, att: a.att, keepMaps: a.keepMaps, scratchMaps: a.attMaps, qkv: a.qkv,
                         batch: d.batch, seq: d.seq, channels: c, heads: d.heads)
        matmulForward(out: a.res2, inp: a.atty, weight: w[.attnProjWeight], bias: w[.attnProjBias],
                      rows: rows, inDim: c, outDim: c, residual: input)
        layerNormForward(out: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, inp: a.res2,
                         weight: w[.ln2Weight], bias: w[.ln2Bias], rows: rows, dim: c, eps: d.eps)
        matmulForward(out: a.fch, inp: a.ln2, weight: w[.fcWeight], bias: w[.fcBias], rows: rows, inDim: c, outDim: 4 * c)
        geluForward(out: a.fchGelu, tanhOut: a.fchTanh, inp: a.fch, count: rows * 4 * c)
        matmulForward(out: a.out, inp: a.fchGelu, weight: w[.fcProjWeight], bias: w[.fcProjBias],
                      rows: rows, inDim: 4 * c, outDim: c, residual: a.res2)
    }

    /// Layers `range` through one reused set of activations, ping-ponging the residual stream between
    /// `a.out` and `spare`; layers in `skipping` are the identity and are not read. Returns the buffer
    /// that holds the result (`input` itself when every layer is skipped).
    static func layersWithoutStoring(
        _ p: ParameterBuffer, _ range: Range<Int>, skipping: Set<Int> = [], input: UnsafeMutablePointer<Float>,
        spare: UnsafeMutablePointer<Float>, _ a: LayerActivations, _ d: Dims
    ) -> UnsafeMutablePointer<Float> {
        var current = input, other = spare
        var acts = a
        for l in range where !skipping.contains(l) {
            acts.out = other
            layer(p, l, input: current, acts, d)
            swap(&current, &other)
        }
        return current
    }

    /// The final LayerNorm of the residual stream `input` into `out`.
    static func finalNorm(
        _ p: ParameterBuffer, input: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, _ d: Dims
    ) {
        let ln = p.base + p.layout.blocks[d.layers + 1].range.lowerBound
        layerNormForward(out: out, mean: mean, rstd: rstd, inp: input, weight: ln, bias: ln + d.channels,
                         rows: d.rows, dim: d.channels, eps: d.eps)
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
