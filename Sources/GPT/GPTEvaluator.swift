import Kernels

/// Forward-only loss for evaluation, with no gradient memory.
///
/// Holds one layer's worth of activations (reused by every layer, attention maps one head at a time),
/// two residual buffers and a bounded chunk of logits. Not thread-safe: one evaluator per thread.
public final class GPTEvaluator {
    public let config: GPTConfig
    public let batch: Int
    public let sequence: Int
    /// Transformer layers (0-based) treated as the identity, as in `GPTTrainer`.
    public let skippedLayers: Set<Int>
    let dims: Dims
    private let storage = FloatStorage()
    let layer: DecoderLayer
    let residualA, residualB, lnf, lnfMean, lnfRstd, logitsChunk: UnsafeMutablePointer<Float>

    public init(config: GPTConfig, batch: Int, sequence: Int, skippedLayers: Set<Int> = []) {
        for l in skippedLayers {
            precondition(l >= 0 && l < config.layers, "skipped layer \(l) is outside 0..<\(config.layers)")
        }
        self.config = config; self.batch = batch; self.sequence = sequence; self.skippedLayers = skippedLayers
        let d = Dims(config: config, batch: batch, sequence: sequence)
        dims = d
        let n = d.rows * d.channels
        residualA = storage.make(n); residualB = storage.make(n)
        layer = config.family.layerFactory(storage: storage, dims: d, backward: false, dln: residualB)
            .makeLayer(out: residualB, keepForBackward: false, trains: false)
        lnf = storage.make(n); lnfMean = storage.make(d.rows); lnfRstd = storage.make(d.rows)
        logitsChunk = storage.make(d.headChunkRows * d.vocab)
    }

    /// Floats of activation memory held.
    public var activationFloatCount: Int { storage.floatCount }

    /// Mean cross-entropy of `targets` given `inputs` (batch*sequence ids each; negative targets are ignored).
    public func loss(parameters: ParameterBuffer, inputs: [Int32], targets: [Int32]) -> Float {
        Float(meanLoss(parameters: parameters, inputs: inputs, targets: targets))
    }

    /// The mean cross-entropy as accumulated, in Double (for finite-difference checks).
    public func meanLoss(parameters: ParameterBuffer, inputs: [Int32], targets: [Int32]) -> Double {
        ForwardPass.checkTokens(targets, dims, allowIgnored: true, what: "targets")
        forward(parameters, inputs)
        let d = dims
        var total = 0.0, counted = 0
        targets.withUnsafeBufferPointer { tp in
            var r0 = 0
            while r0 < d.rows {
                let rows = min(d.headChunkRows, d.rows - r0)
                let (s, n) = headChunk(parameters, r0, rows, targets: tp.baseAddress! + r0)
                total += s; counted += n
                r0 += rows
            }
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    /// The logits [batch, sequence, vocab], row-major.
    public func logits(parameters: ParameterBuffer, inputs: [Int32]) -> [Float] {
        forward(parameters, inputs)
        let d = dims
        var out = [Float](repeating: 0, count: d.rows * d.vocab)
        out.withUnsafeMutableBufferPointer { o in
            var r0 = 0
            while r0 < d.rows {
                let rows = min(d.headChunkRows, d.rows - r0)
                _ = headChunk(parameters, r0, rows, targets: nil)
                (o.baseAddress! + r0 * d.vocab).update(from: logitsChunk, count: rows * d.vocab)
                r0 += rows
            }
        }
        return out
    }

    func forward(_ p: ParameterBuffer, _ inputs: [Int32]) {
        precondition(p.layout.matches(config), "parameters do not match the evaluator's config")
        ForwardPass.checkTokens(inputs, dims, allowIgnored: false, what: "inputs")
        inputs.withUnsafeBufferPointer { ForwardPass.embed(p, tokens: $0.baseAddress!, out: residualA, dims) }
        let result = ForwardPass.layersWithoutStoring(p, 0..<dims.layers, skipping: skippedLayers, input: residualA, spare: residualB, layer)
        ForwardPass.finalNorm(p, input: result, out: lnf, mean: lnfMean, rstd: lnfRstd, dims)
    }

    /// Logits for rows r0..<r0+rows into `logitsChunk`; with targets, their summed loss and count.
    func headChunk(_ p: ParameterBuffer, _ r0: Int, _ rows: Int, targets: UnsafePointer<Int32>?) -> (Double, Int) {
        let d = dims
        headForward(logits: logitsChunk, inp: lnf + r0 * d.channels, head: p.base + p.layout.headOffset, rows: rows, dim: d.channels, vocab: d.vocab)
        guard let targets else { return (0, 0) }
        let r = crossEntropy(logits: logitsChunk, targets: targets, rows: rows, vocab: d.vocab, gradientScale: nil)
        return (r.sum, r.count)
    }
}
