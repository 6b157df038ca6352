import Kernels

/// Buffers the GPT-2 layers of one trainer share: the backward scratch.
final class GPT2LayerFactory: DecoderLayerFactory {
    let storage: FloatStorage
    let dims: Dims
    let dln, dqkv, datty, dfch, dAttention: UnsafeMutablePointer<Float>

    init(storage: FloatStorage, dims d: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) {
        self.storage = storage; dims = d; self.dln = dln
        let n = backward ? d.rows * d.channels : 0
        dqkv = storage.make(3 * n); datty = storage.make(n); dfch = storage.make(4 * n)
        dAttention = storage.make(backward ? d.workerSlots * d.seq * d.seq : 0)
    }

    func makeLayer(out: UnsafeMutablePointer<Float>, keepForBackward: Bool, trains: Bool) -> DecoderLayer {
        GPT2Layer(factory: self, out: out, keepForBackward: keepForBackward)
    }
}

/// A pre-LN GPT-2 layer: LayerNorm, fused causal attention, residual; LayerNorm, GELU MLP, residual.
final class GPT2Layer: DecoderLayer {
    let factory: GPT2LayerFactory
    var ln1, ln1Mean, ln1Rstd, qkv, atty, att, res2, ln2, ln2Mean, ln2Rstd, fch, fchGelu, out: UnsafeMutablePointer<Float>
    /// Whether `att` keeps each attention row's log-sum-exp for the backward pass (B·heads·T floats).
    let keepMaps: Bool

    /// With `keepForBackward` each attention row's log-sum-exp and the GELU's input and output are
    /// stored; otherwise GELU runs in place. The backward pass recomputes the GELU's tanh from its
    /// input: that costs less than a pass that rebuilds the output from a stored tanh, and the
    /// recomputed tanh has the forward's bits (the same kernel on the same input).
    init(factory: GPT2LayerFactory, out: UnsafeMutablePointer<Float>, keepForBackward: Bool) {
        self.factory = factory
        let storage = factory.storage, d = factory.dims
        let n = d.rows * d.channels
        ln1 = storage.make(n); ln1Mean = storage.make(d.rows); ln1Rstd = storage.make(d.rows)
        qkv = storage.make(3 * n); atty = storage.make(n)
        keepMaps = keepForBackward
        att = storage.make(keepForBackward ? d.batch * d.heads * d.seq : 0)
        res2 = storage.make(n)
        ln2 = storage.make(n); ln2Mean = storage.make(d.rows); ln2Rstd = storage.make(d.rows)
        fch = storage.make(4 * n)
        fchGelu = keepForBackward ? storage.make(4 * n) : fch
        self.out = out
    }

    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>) {
        let d = factory.dims
        forward(p, l, input: input, rows: d.rows) { qkv, atty in
            attentionForward(out: atty, att: att, keepMaps: keepMaps, qkv: qkv,
                             batch: d.batch, seq: d.seq, channels: d.channels, heads: d.heads)
        }
    }

    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, rows: Int, cache: KeyValueCache) {
        forward(p, l, input: input, rows: rows) { qkv, atty in cache.storeAndAttend(layer: l, qkv: qkv, rows: rows, out: atty) }
    }

    /// The layer on `rows` rows, `attend` computing the attention output [rows, C] from the packed q, k, v.
    private func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, rows: Int,
                         attend: (_ qkv: UnsafeMutablePointer<Float>, _ atty: UnsafeMutablePointer<Float>) -> Void) {
        let d = factory.dims, c = d.channels
        func w(_ t: GPT2LayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        layerNormForward(out: ln1, mean: ln1Mean, rstd: ln1Rstd, inp: input,
                         weight: w(.ln1Weight), bias: w(.ln1Bias), rows: rows, dim: c, eps: d.eps)
        matmulForward(out: qkv, inp: ln1, weight: w(.qkvWeight), bias: w(.qkvBias), rows: rows, inDim: c, outDim: 3 * c)
        attend(qkv, atty)
        matmulForward(out: res2, inp: atty, weight: w(.attnProjWeight), bias: w(.attnProjBias),
                      rows: rows, inDim: c, outDim: c, residual: input)
        layerNormForward(out: ln2, mean: ln2Mean, rstd: ln2Rstd, inp: res2,
                         weight: w(.ln2Weight), bias: w(.ln2Bias), rows: rows, dim: c, eps: d.eps)
        matmulForward(out: fch, inp: ln2, weight: w(.fcWeight), bias: w(.fcBias), rows: rows, inDim: c, outDim: 4 * c)
        geluForward(out: fchGelu, inp: fch, count: rows * 4 * c)
        matmulForward(out: out, inp: fchGelu, weight: w(.fcProjWeight), bias: w(.fcProjBias),
                      rows: rows, inDim: 4 * c, outDim: c, residual: res2)
    }

    func backward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, dres: UnsafeMutablePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>?, needInputGradient: Bool) {
        let f = factory, d = f.dims, rows = d.rows, c = d.channels
        let blockStart = p.layout.blocks[l + 1].range.lowerBound
        func w(_ t: GPT2LayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        func g(_ t: GPT2LayerTensor) -> UnsafeMutablePointer<Float>? { gradient.map { $0 + (p.layout.offset(layer: l, t) - blockStart) } }
        // MLP: out = res2 + gelu(ln2(res2) Wfc + bfc) Wproj + bproj
        matmulBackward(dinp: f.dfch, dweight: g(.fcProjWeight), dbias: g(.fcProjBias), dout: dres, inp: fchGelu,
                       weight: w(.fcProjWeight), rows: rows, inDim: 4 * c, outDim: c)
        geluBackward(dinp: f.dfch, dout: f.dfch, inp: fch, count: rows * 4 * c)
        matmulBackward(dinp: f.dln, dweight: g(.fcWeight), dbias: g(.fcBias), dout: f.dfch, inp: ln2,
                       weight: w(.fcWeight), rows: rows, inDim: c, outDim: 4 * c)
        layerNormBackward(dinp: dres, dweight: g(.ln2Weight), dbias: g(.ln2Bias), dout: f.dln, inp: res2,
                          weight: w(.ln2Weight), mean: ln2Mean, rstd: ln2Rstd, rows: rows, dim: c)
        // Attention: res2 = input + attn(ln1(input)) Wproj + bproj
        matmulBackward(dinp: f.datty, dweight: g(.attnProjWeight), dbias: g(.attnProjBias), dout: dres, inp: atty,
                       weight: w(.attnProjWeight), rows: rows, inDim: c, outDim: c)
        attentionBackward(dqkv: f.dqkv, dout: f.datty, qkv: qkv, att: att, scratch: f.dAttention, scratchMaps: d.workerSlots,
                          batch: d.batch, seq: d.seq, channels: c, heads: d.heads)
        matmulBackward(dinp: f.dln, dweight: g(.qkvWeight), dbias: g(.qkvBias), dout: f.dqkv, inp: ln1,
                       weight: w(.qkvWeight), rows: rows, inDim: c, outDim: 3 * c)
        layerNormBackward(dinp: needInputGradient ? dres : nil, dweight: g(.ln1Weight), dbias: g(.ln1Bias),
                          dout: f.dln, inp: input, weight: w(.ln1Weight), mean: ln1Mean, rstd: ln1Rstd,
                          rows: rows, dim: c)
    }
}

extension GPT2Family {
    func layerFloats(_ s: ActivationMemory.Shape, kept: Bool, trains: Bool, sharesScratch: Bool) -> Double {
        let maps = kept ? s.batch * Double(s.config.heads) * s.seq : 0  // attention's row log-sum-exps
        return (kept ? 15 * s.n : 11 * s.n) + 4 * s.rows + maps
    }

    func sharedFloats(_ s: ActivationMemory.Shape, backward: Bool, anyKept: Bool, anyKeptFrozen: Bool, anyLayer: Bool) -> Double {
        backward ? 8 * s.n + s.slots * s.map : 0
    }
}
