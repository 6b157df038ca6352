import Kernels

/// Forward, backward and AdamW for a fixed batch shape and a fixed set of trainable blocks.
/// Gradients and optimizer state exist only for the trainable blocks; the backward pass stops
/// at the lowest trainable block and activations are kept only from there up.
///
/// One trainer serves both families; their layers differ behind `DecoderLayer` (GPT2Layer.swift,
/// LlamaLayer.swift). Blocks: 0 = embeddings, 1...L = transformer layers, L+1 = final norm (with
/// Llama's untied lm_head). A tied head's weight gradient is added to the embedding's only when
/// block 0 is trainable; the head's input gradient is always computed when anything below it trains.
/// With an `embeddingShard`, block 0 trains only that shard's vocabulary rows: its gradient and
/// moments are the shard's size, and the backward pass still runs down to the embedding.
///
/// Targets may be negative to ignore a position; the loss is the mean over the other positions.
/// All buffers are allocated in `init`; a step allocates nothing. Not thread-safe: one trainer per thread.
public final class GPTTrainer {
    public let config: GPTConfig
    public let batch: Int
    public let sequence: Int
    public let trainableBlocks: Set<Int>
    /// Transformer layers (0-based) treated as the identity; never read, never trained.
    public let skippedLayers: Set<Int>
    /// Whether AdamW moments were allocated (see `init`).
    public let hasOptimizerState: Bool
    /// The lowest trainable block, or nil when nothing trains (forwardBackward then only computes the loss).
    public let lowestTrainableBlock: Int?
    /// The vocabulary rows of block 0 that train, when the embedding trains in shards.
    public let embeddingShard: EmbeddingShard?
    /// Per block: the part of the parameter buffer that trains (the block, or block 0's shard), nil if frozen.
    let trainedRanges: [Range<Int>?]

    let layout: ParameterLayout
    let dims: Dims
    private let storage: FloatStorage
    private let gradientStorage: FloatStorage
    private let optimizerStorage: FloatStorage

    /// First transformer layer whose activations are stored for the backward pass.
    let storedFrom: Int
    /// Residual stream at the input of layers storedFrom...L (the last one feeds ln_f).
    let residuals: [UnsafeMutablePointer<Float>]
    /// Layers storedFrom..<L with their kept activations (nil for skipped layers).
    let stored: [DecoderLayer?]
    /// One layer's scratch for the frozen layers below `storedFrom` (nil when there are none).
    let frozenScratch: DecoderLayer?
    let spareResidual: UnsafeMutablePointer<Float>?
    let lnf, lnfMean, lnfRstd, logits: UnsafeMutablePointer<Float>
    let dres, dln: UnsafeMutablePointer<Float>
    /// Per block: gradient, first and second moments (nil for frozen blocks).
    let gradients: [UnsafeMutablePointer<Float>?]
    let moments: [(m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)?]
    /// AdamW steps taken since the last reset.
    public private(set) var optimizerStep = 0
    /// True after `applyAdamW`, which zeroes the gradients in its own pass: the next backward pass
    /// then skips its separate zeroing.
    var gradientsAreZero = false

    /// `skippedLayers` (0-based) act as the identity on the residual stream: their weights are never
    /// read, cost no matmuls and store no activations (FedCyBGD's layer dropping). They must be frozen,
    /// and only transformer layers can be skipped. `optimizerState: false` allocates no AdamW moments,
    /// for callers that only want gradients (`applyAdamW` then traps). `embeddingShard` restricts a
    /// trainable block 0 to that shard's rows.
    public init(config: GPTConfig, batch: Int, sequence: Int, trainableBlocks: Set<Int>,
                skippedLayers: Set<Int> = [], optimizerState: Bool = true, embeddingShard: EmbeddingShard? = nil) {
        let layout = ParameterLayout(config: config)
        let d = Dims(config: config, batch: batch, sequence: sequence)
        for b in trainableBlocks {
            precondition(b >= 0 && b < layout.blockCount, "trainable block \(b) is outside 0..<\(layout.blockCount)")
        }
        for l in skippedLayers {
            precondition(l >= 0 && l < config.layers, "skipped layer \(l) is outside 0..<\(config.layers)")
            precondition(!trainableBlocks.contains(layout.block(ofLayer: l)),
                         "layer \(l) (block \(layout.block(ofLayer: l))) is skipped, so it cannot be trainable")
        }
        self.config = config; self.batch = batch; self.sequence = sequence; self.layout = layout; dims = d
        self.trainableBlocks = trainableBlocks
        self.skippedLayers = skippedLayers
        self.hasOptimizerState = optimizerState
        lowestTrainableBlock = trainableBlocks.min()
        precondition(embeddingShard == nil || trainableBlocks.contains(0), "an embedding shard trains only with block 0")
        self.embeddingShard = embeddingShard
        let trainedRanges: [Range<Int>?] = layout.blocks.map { b in
            guard trainableBlocks.contains(b.index) else { return nil }
            return b.index == 0 ? embeddingShard?.range(in: layout) ?? b.range : b.range
        }
        self.trainedRanges = trainedRanges
        // Layer l is block l+1; keep layers from the lowest trainable one up (all of them if embeddings train).
        let lowest = lowestTrainableBlock ?? (config.layers + 1)
        let storedFrom = min(max(lowest - 1, 0), config.layers)
        self.storedFrom = storedFrom
        let storage = FloatStorage(), gradientStorage = FloatStorage(), optimizerStorage = FloatStorage()
        self.storage = storage; self.gradientStorage = gradientStorage; self.optimizerStorage = optimizerStorage
        let n = d.rows * d.channels
        let training = !trainableBlocks.isEmpty
        let storesLayers = (storedFrom..<config.layers).contains { !skippedLayers.contains($0) }
        dres = storage.make(training ? n : 0); dln = storage.make(training ? n : 0)
        let factory = config.family.layerFactory(storage: storage, dims: d, backward: training && storesLayers, dln: dln)
        let acts = Self.layers(factory, storage: storage, dims: d, storedFrom: storedFrom, skipped: skippedLayers,
                               trainable: trainableBlocks)
        residuals = acts.residuals; stored = acts.stored; frozenScratch = acts.frozenScratch; spareResidual = acts.spare
        lnf = storage.make(n); lnfMean = storage.make(d.rows); lnfRstd = storage.make(d.rows)
        logits = storage.make(d.headChunkRows * d.vocab)
        gradients = trainedRanges.map { range in range.map { gradientStorage.make($0.count) } }
        moments = trainedRanges.map { range in
            range.flatMap { optimizerState ? (optimizerStorage.make($0.count), optimizerStorage.make($0.count)) : nil }
        }
    }

    /// Residual buffers and layers. A skipped layer's output residual is the same buffer as its
    /// input (the identity needs no copy) and it gets no layer; frozen layers below `storedFrom`
    /// share one scratch layer, made only if at least one of them runs.
    private static func layers(_ factory: DecoderLayerFactory, storage: FloatStorage, dims d: Dims, storedFrom: Int,
                               skipped: Set<Int>, trainable: Set<Int>) -> (
        residuals: [UnsafeMutablePointer<Float>], stored: [DecoderLayer?],
        frozenScratch: DecoderLayer?, spare: UnsafeMutablePointer<Float>?
    ) {
        let n = d.rows * d.channels
        var residuals = [storage.make(n)]
        for l in storedFrom..<d.layers {
            residuals.append(skipped.contains(l) ? residuals[residuals.count - 1] : storage.make(n))
        }
        let stored: [DecoderLayer?] = (storedFrom..<d.layers).map { l in
            skipped.contains(l) ? nil : factory.makeLayer(out: residuals[l + 1 - storedFrom], keepForBackward: true,
                                                          trains: trainable.contains(l + 1))
        }
        guard (0..<storedFrom).contains(where: { !skipped.contains($0) }) else { return (residuals, stored, nil, nil) }
        let spare = storage.make(n)
        return (residuals, stored, factory.makeLayer(out: spare, keepForBackward: false, trains: false), spare)
    }

    /// Floats of gradient memory: the sizes of the trainable blocks, nothing for frozen ones.
    public var gradientParameterCount: Int { gradientStorage.floatCount }
    /// Floats of AdamW state (two moments per trainable parameter).
    public var optimizerStateParameterCount: Int { optimizerStorage.floatCount }
    /// Floats of activation and backward scratch memory.
    public var activationFloatCount: Int { storage.floatCount }

    /// The gradient of one tensor from the last forwardBackward, or nil when its block is frozen
    /// or the tensor is not wholly in the block's trained shard.
    public func gradient(of slot: TensorSlot) -> UnsafeMutableBufferPointer<Float>? {
        guard let g = gradients[slot.block], let range = trainedRanges[slot.block],
              range.lowerBound <= slot.offset, slot.offset + slot.count <= range.upperBound else { return nil }
        return UnsafeMutableBufferPointer(start: g + (slot.offset - range.lowerBound), count: slot.count)
    }

    /// The gradient of a whole block (of its shard, for a sharded embedding), laid out like that
    /// slice of the parameter buffer (`trainedRange(ofBlock:)`).
    public func gradient(ofBlock index: Int) -> UnsafeMutableBufferPointer<Float>? {
        guard let g = gradients[index], let range = trainedRanges[index] else { return nil }
        return UnsafeMutableBufferPointer(start: g, count: range.count)
    }

    /// The part of the parameter buffer block `index` trains: the block, its shard, or nil if frozen.
    public func trainedRange(ofBlock index: Int) -> Range<Int>? { trainedRanges[index] }

    /// Gradient pointer for the parameter at buffer offset `offset` in block `block`, nil if frozen.
    @inline(__always)
    func grad(_ block: Int, _ offset: Int) -> UnsafeMutablePointer<Float>? {
        guard let g = gradients[block], let range = trainedRanges[block] else { return nil }
        return g + (offset - range.lowerBound)
    }

    /// Forward and backward on one batch (inputs/targets are batch*sequence token ids); returns the mean cross-entropy.
    public func forwardBackward(parameters: ParameterBuffer, inputs: [Int32], targets: [Int32]) -> Float {
        precondition(parameters.layout.matches(config), "parameters do not match the trainer's config")
        ForwardPass.checkTokens(inputs, dims, allowIgnored: false, what: "inputs")
        ForwardPass.checkTokens(targets, dims, allowIgnored: true, what: "targets")
        return inputs.withUnsafeBufferPointer { ip in
            targets.withUnsafeBufferPointer { tp in
                run(parameters, tokens: ip.baseAddress!, targets: tp.baseAddress!)
            }
        }
    }

    /// One AdamW step on the trainable blocks, from the gradients of the last forwardBackward; the
    /// gradients read zero afterwards.
    public func applyAdamW(parameters: ParameterBuffer, settings: AdamWSettings) {
        precondition(hasOptimizerState, "this trainer was created with optimizerState: false")
        optimizerStep += 1
        for block in layout.blocks {
            guard let g = gradients[block.index], let mv = moments[block.index], let range = trainedRanges[block.index] else { continue }
            adamWUpdate(params: parameters.base + range.lowerBound, grads: g, m: mv.m, v: mv.v,
                        count: range.count, learningRate: settings.learningRate, beta1: settings.beta1,
                        beta2: settings.beta2, epsilon: settings.epsilon, weightDecay: settings.weightDecay,
                        step: optimizerStep, zeroingGradients: true)
        }
    }

    /// forwardBackward then applyAdamW; returns the loss before the update.
    public func step(parameters: ParameterBuffer, inputs: [Int32], targets: [Int32], settings: AdamWSettings) -> Float {
        let loss = forwardBackward(parameters: parameters, inputs: inputs, targets: targets)
        applyAdamW(parameters: parameters, settings: settings)
        return loss
    }

    /// Forget moments and step count, as at the start of a new client visit.
    public func resetOptimizer() {
        optimizerStep = 0
        for (i, mv) in moments.enumerated() {
            guard let mv, let count = trainedRanges[i]?.count else { continue }
            mv.m.update(repeating: 0, count: count)
            mv.v.update(repeating: 0, count: count)
        }
    }
}

/// Decoupled-weight-decay Adam settings (torch.optim.AdamW semantics, decay applied to every parameter).
public struct AdamWSettings: Hashable, Sendable, Codable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }
}
