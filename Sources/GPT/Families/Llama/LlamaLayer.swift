import Kernels

/// Buffers the Llama layers of one trainer share: the backward scratch, the rotary table, and the
/// gated MLP's output that the backward pass recomputes instead of storing per layer.
final class LlamaLayerFactory: DecoderLayerFactory {
    let storage: FloatStorage
    let dims: Dims
    /// cos/sin for positions 0..<dims.seq, or more once the cached decoder asks (`rotary(covering:)`).
    private(set) var rotary: RotaryTable
    let dln, dqkv, dExpanded, datty, dmlp, dgateUp, dAttention: UnsafeMutablePointer<Float>
    private var mlpScratch: UnsafeMutablePointer<Float>?
    /// k and v repeated per query head, for every layer: a kept layer repeats them again from its
    /// packed qkv in backward, which costs a copy and saves a 3·H·D-wide buffer per layer.
    private var expandedScratch: UnsafeMutablePointer<Float>?
    /// The normalized inputs and the attention output of kept layers that do not train: their
    /// backward needs only input gradients, which never read these.
    private var frozenInputs: LlamaLayer.WeightGradientInputs?

    init(storage: FloatStorage, dims d: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) {
        self.storage = storage; dims = d; self.dln = dln
        let c = d.config
        rotary = RotaryTable(headDim: c.headDim, positions: d.seq, theta: c.ropeTheta, scaling: c.ropeScaling)
        let rows = backward ? d.rows : 0
        dqkv = storage.make(rows * c.qkvWidth)
        dExpanded = storage.make(d.groupsQueries ? rows * 3 * c.attentionWidth : 0)
        datty = storage.make(rows * c.attentionWidth)
        dmlp = storage.make(rows * c.intermediateSize); dgateUp = storage.make(rows * 2 * c.intermediateSize)
        dAttention = storage.make(backward ? d.workerSlots * d.seq * d.seq : 0)
    }

    /// The rotary table, extended to at least `positions` positions (a table's entries do not depend
    /// on its length).
    func rotary(covering positions: Int) -> RotaryTable {
        if rotary.positions < positions {
            let c = dims.config
            rotary = RotaryTable(headDim: c.headDim, positions: positions, theta: c.ropeTheta, scaling: c.ropeScaling)
        }
        return rotary
    }

    func makeLayer(out: UnsafeMutablePointer<Float>, keepForBackward: Bool, trains: Bool) -> DecoderLayer {
        let d = dims, c = d.config
        if keepForBackward && mlpScratch == nil { mlpScratch = storage.make(d.rows * c.intermediateSize) }
        if d.groupsQueries && expandedScratch == nil { expandedScratch = storage.make(d.rows * 3 * c.attentionWidth) }
        if keepForBackward && !trains && frozenInputs == nil {
            frozenInputs = .init(xn1: storage.make(d.rows * d.channels), xn2: storage.make(d.rows * d.channels),
                                 atty: storage.make(d.rows * c.attentionWidth))
        }
        return LlamaLayer(factory: self, out: out, keepForBackward: keepForBackward, mlpScratch: mlpScratch,
                          expanded: expandedScratch, sharedInputs: keepForBackward && !trains ? frozenInputs : nil)
    }
}

/// A Llama decoder layer as transformers' LlamaDecoderLayer: RMSNorm, attention with rotary
/// positions over grouped key/value heads, residual; RMSNorm, SiLU-gated MLP, residual. No biases.
///
/// q, k and v come from one matmul over the adjacent q/k/v weights into `qkv` [rows, (H + 2 Hkv) D];
/// RoPE rotates q and k there in place. With fewer key/value heads than query heads, k and v are
/// repeated per query head into a buffer [rows, 3 H D] shared by the layers (transformers'
/// repeat_kv), so one fused attention kernel serves both families; the backward repeats them
/// again and sums each group's gradients.
final class LlamaLayer: DecoderLayer {
    /// The buffers only weight gradients read: the normalized inputs of the two matmul groups and
    /// the attention's output.
    struct WeightGradientInputs {
        let xn1, xn2, atty: UnsafeMutablePointer<Float>
    }

    let factory: LlamaLayerFactory
    var xn1, rstd1, qkv, atty, att, res2, xn2, rstd2, gateUp, mlp, out: UnsafeMutablePointer<Float>
    /// The attention kernel's input: `qkv` itself, or k and v repeated per query head.
    let attentionInput: UnsafeMutablePointer<Float>
    /// Whether `att` keeps each attention row's log-sum-exp for the backward pass (B·heads·T floats).
    let keepMaps: Bool

    /// With `keepForBackward` every head's attention map is stored and the MLP output goes to the
    /// shared `mlpScratch` (recomputed in backward); otherwise per-thread maps are reused, and the
    /// shared buffer too when there is one (a frozen layer's product is never read again).
    /// `expanded` is the factory's buffer for repeated key/value heads (grouped-query attention);
    /// `sharedInputs`, when given, replaces the buffers only weight gradients read.
    init(factory: LlamaLayerFactory, out: UnsafeMutablePointer<Float>, keepForBackward: Bool,
         mlpScratch: UnsafeMutablePointer<Float>?, expanded: UnsafeMutablePointer<Float>?,
         sharedInputs: WeightGradientInputs?) {
        self.factory = factory
        let storage = factory.storage, d = factory.dims, c = d.config, rows = d.rows
        xn1 = sharedInputs?.xn1 ?? storage.make(rows * d.channels); rstd1 = storage.make(rows)
        qkv = storage.make(rows * c.qkvWidth)
        attentionInput = expanded ?? qkv
        atty = sharedInputs?.atty ?? storage.make(rows * c.attentionWidth)
        keepMaps = keepForBackward
        att = storage.make(keepForBackward ? d.batch * d.heads * d.seq : 0)
        res2 = storage.make(rows * d.channels)
        xn2 = sharedInputs?.xn2 ?? storage.make(rows * d.channels); rstd2 = storage.make(rows)
        gateUp = storage.make(rows * 2 * c.intermediateSize)
        mlp = mlpScratch ?? storage.make(rows * c.intermediateSize)
        self.out = out
    }

    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>) {
        let d = factory.dims, c = d.config
        forward(p, l, input: input, rows: d.rows) { qkv, atty in
            rotateQueriesAndKeys(qkv, inverse: false)
            if d.groupsQueries {
                repeatKeyValues(expanded: attentionInput, packed: qkv, rows: d.rows, heads: c.heads,
                                kvHeads: c.keyValueHeads, headDim: c.headDim)
            }
            attentionForward(out: atty, att: att, keepMaps: keepMaps, qkv: attentionInput,
                             batch: d.batch, seq: d.seq, channels: c.attentionWidth, heads: c.heads)
        }
    }

    /// RoPE at the rows' positions after the cached ones; the cache keeps the keys rotated and holds
    /// only the key/value heads, which its attention shares across each group of query heads.
    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, rows: Int, cache: KeyValueCache) {
        let c = factory.dims.config, table = factory.rotary(covering: cache.capacity)
        forward(p, l, input: input, rows: rows) { qkv, atty in
            ropeRotate(qkv, rowStride: c.qkvWidth, firstColumn: 0, heads: c.heads + c.keyValueHeads, headDim: c.headDim,
                       batch: 1, seq: rows, positionOffset: cache.count, table: table, inverse: false)
            cache.storeAndAttend(layer: l, qkv: qkv, rows: rows, out: atty)
        }
    }

    /// The layer on `rows` rows, `attend` computing the attention output [rows, H D] from the packed
    /// q, k, v (rotating q and k first).
    private func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, rows: Int,
                         attend: (_ qkv: UnsafeMutablePointer<Float>, _ atty: UnsafeMutablePointer<Float>) -> Void) {
        let d = factory.dims, c = d.config, width = d.channels
        func w(_ t: LlamaLayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        rmsNormForward(out: xn1, rstd: rstd1, inp: input, weight: w(.inputNorm), rows: rows, dim: width, eps: d.eps)
        linearForward(out: qkv, inp: xn1, weight: w(.query), rows: rows, inDim: width, outDim: c.qkvWidth)
        attend(qkv, atty)
        linearForward(out: res2, inp: atty, weight: w(.output), rows: rows, inDim: c.attentionWidth, outDim: width,
                      residual: input)
        rmsNormForward(out: xn2, rstd: rstd2, inp: res2, weight: w(.postAttentionNorm), rows: rows, dim: width, eps: d.eps)
        linearForward(out: gateUp, inp: xn2, weight: w(.gate), rows: rows, inDim: width, outDim: 2 * c.intermediateSize)
        swigluForward(out: mlp, gateUp: gateUp, rows: rows, hidden: c.intermediateSize)
        linearForward(out: out, inp: mlp, weight: w(.down), rows: rows, inDim: c.intermediateSize, outDim: width,
                      residual: res2)
    }

    func backward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, dres: UnsafeMutablePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>?, needInputGradient: Bool) {
        let f = factory, d = f.dims, c = d.config, rows = d.rows, width = d.channels, hidden = c.intermediateSize
        let blockStart = p.layout.blocks[l + 1].range.lowerBound
        func w(_ t: LlamaLayerTensor) -> UnsafeMutablePointer<Float> { p.base + p.layout.offset(layer: l, t) }
        func g(_ t: LlamaLayerTensor) -> UnsafeMutablePointer<Float>? { gradient.map { $0 + (p.layout.offset(layer: l, t) - blockStart) } }
        // MLP: out = res2 + (silu(xn2 Wg^T) * (xn2 Wu^T)) Wd^T; the gated product is recomputed.
        if g(.down) != nil { swigluForward(out: mlp, gateUp: gateUp, rows: rows, hidden: hidden) }
        linearBackward(dinp: f.dmlp, dweight: g(.down), dout: dres, inp: mlp, weight: w(.down),
                       rows: rows, inDim: hidden, outDim: width)
        swigluBackward(dgateUp: f.dgateUp, dout: f.dmlp, gateUp: gateUp, rows: rows, hidden: hidden)
        linearBackward(dinp: f.dln, dweight: g(.gate), dout: f.dgateUp, inp: xn2, weight: w(.gate),
                       rows: rows, inDim: width, outDim: 2 * hidden)
        rmsNormBackward(dinp: dres, dweight: g(.postAttentionNorm), dout: f.dln, inp: res2, weight: w(.postAttentionNorm),
                        rstd: rstd2, rows: rows, dim: width)
        // Attention: res2 = input + attention(rope(xn1 Wqkv^T)) Wo^T
        linearBackward(dinp: f.datty, dweight: g(.output), dout: dres, inp: atty, weight: w(.output),
                       rows: rows, inDim: c.attentionWidth, outDim: width)
        if d.groupsQueries {  // the shared buffer holds the last layer's heads: repeat this layer's again
            repeatKeyValues(expanded: attentionInput, packed: qkv, rows: rows, heads: c.heads,
                            kvHeads: c.keyValueHeads, headDim: c.headDim)
        }
        attentionBackward(dqkv: d.groupsQueries ? f.dExpanded : f.dqkv, dout: f.datty, qkv: attentionInput, att: att,
                          scratch: f.dAttention, scratchMaps: d.workerSlots,
                          batch: d.batch, seq: d.seq, channels: c.attentionWidth, heads: c.heads)
        if d.groupsQueries {
            sumKeyValueGradients(packed: f.dqkv, expanded: f.dExpanded, rows: rows, heads: c.heads,
                                 kvHeads: c.keyValueHeads, headDim: c.headDim)
        }
        rotateQueriesAndKeys(f.dqkv, inverse: true)
        linearBackward(dinp: f.dln, dweight: g(.query), dout: f.dqkv, inp: xn1, weight: w(.query),
                       rows: rows, inDim: width, outDim: c.qkvWidth)
        rmsNormBackward(dinp: needInputGradient ? dres : nil, dweight: g(.inputNorm), dout: f.dln, inp: input,
                        weight: w(.inputNorm), rstd: rstd1, rows: rows, dim: width)
    }

    /// RoPE on the query and key heads of packed rows (the inverse rotation is its backward pass).
    private func rotateQueriesAndKeys(_ packed: UnsafeMutablePointer<Float>, inverse: Bool) {
        let d = factory.dims, c = d.config
        ropeRotate(packed, rowStride: c.qkvWidth, firstColumn: 0, heads: c.heads + c.keyValueHeads, headDim: c.headDim,
                   batch: d.batch, seq: d.seq, table: factory.rotary, inverse: inverse)
    }
}

extension LlamaFamily {
    /// A scratch layer made after kept layers reuses their shared gated-product buffer (`sharesScratch`).
    func layerFloats(_ s: ActivationMemory.Shape, kept: Bool, trains: Bool, sharesScratch: Bool) -> Double {
        let c = s.config, maps = kept ? s.batch * Double(c.heads) * s.seq : 0  // attention's row log-sum-exps
        let attention = s.rows * Double(c.attentionWidth), hidden = s.rows * Double(c.intermediateSize)
        let ownsInputs = !kept || trains
        return s.n + 2 * s.rows + s.rows * Double(c.qkvWidth) + maps + 2 * hidden
            + (ownsInputs ? 2 * s.n + attention : 0) + (kept || sharesScratch ? 0 : hidden)
    }

    /// The backward scratch, the kept layers' recomputed gated product, the repeated key/value heads
    /// and the inputs of kept layers that do not train.
    func sharedFloats(_ s: ActivationMemory.Shape, backward: Bool, anyKept: Bool, anyKeptFrozen: Bool, anyLayer: Bool) -> Double {
        let c = s.config, attention = s.rows * Double(c.attentionWidth), hidden = s.rows * Double(c.intermediateSize)
        let scratch = s.rows * Double(c.qkvWidth) + (s.groups ? 3 * attention : 0) + attention + 3 * hidden + s.slots * s.map
        return (backward ? scratch : 0) + (anyKept ? hidden : 0) + (s.groups && anyLayer ? 3 * attention : 0)
            + (anyKeptFrozen ? 2 * s.n + attention : 0)
    }
}
