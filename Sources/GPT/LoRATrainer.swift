import Kernels

/// Trains LoRA adapters on a frozen base model (the `fedlora` baseline), by the merged-weight method.
///
/// Each forward/backward merges base + ΔW into a working model, runs `GPTTrainer` with every layer
/// block trainable to get the dense dW of the merged weights, then forms dA = s · dW · Bᵀ and
/// dB = s · Aᵀ · dW (s = alpha / r) with sgemm. AdamW runs on the adapters only, with its own moments.
///
/// Memory beyond the adapters' own (parameters, gradient, two moments): a full working copy of the
/// model, dense gradients of all L layer blocks (L · (12C² + 13C) floats, no moments: the inner
/// trainer has `optimizerState: false`), and activations of every layer. So a step costs about a
/// full training step's activations and compute plus 2 sgemms per adapter, and saves only the
/// dense optimizer state and the embeddings' gradient. GPT-2's adapters sit on c_attn, attn.c_proj, c_fc
/// and mlp.c_proj; Llama's on q, k, v, o, gate, up and down. Not thread-safe: one trainer per thread.
public final class LoRATrainer {
    public let config: GPTConfig
    public let lora: LoRAConfig
    public let layout: LoRALayout
    public let batch: Int
    public let sequence: Int

    let trainer: GPTTrainer
    let working: ParameterBuffer
    private let storage = FloatStorage()
    private let gradients, m, v: UnsafeMutablePointer<Float>
    /// AdamW steps taken since the last reset.
    public private(set) var optimizerStep = 0

    public init(model: GPTConfig, lora: LoRAConfig, batch: Int, sequence: Int) {
        self.config = model; self.lora = lora; self.batch = batch; self.sequence = sequence
        layout = LoRALayout(model: model, lora: lora)
        trainer = GPTTrainer(config: model, batch: batch, sequence: sequence,
                             trainableBlocks: Set(1...model.layers), optimizerState: false)
        working = ParameterBuffer(layout: ParameterLayout(config: model))
        gradients = storage.make(layout.parameterCount)
        m = storage.make(layout.parameterCount)
        v = storage.make(layout.parameterCount)
    }

    /// The adapter gradient from the last forwardBackward, laid out like the adapter vector.
    public var gradient: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: gradients, count: layout.parameterCount)
    }

    /// Floats held besides the adapters themselves: working model, dense layer gradients, activations,
    /// adapter gradient and moments.
    public var memoryFloatCount: Int {
        working.storage.count + trainer.gradientParameterCount + trainer.activationFloatCount + storage.floatCount
    }

    /// Loss of the merged model on one batch, and the adapter gradient into `gradient`.
    public func forwardBackward(base: ParameterBuffer, adapters: UnsafeMutableBufferPointer<Float>,
                                inputs: [Int32], targets: [Int32]) -> Float {
        precondition(adapters.count == layout.parameterCount,
                     "adapter vector has \(adapters.count) floats, the layout needs \(layout.parameterCount)")
        LoRAMerge.merge(base: base, adapters: UnsafeBufferPointer(adapters), layout: layout, into: working)
        let loss = trainer.forwardBackward(parameters: working, inputs: inputs, targets: targets)
        let a = adapters.baseAddress!, s = lora.scale
        for slot in layout.slots {
            let block = trainer.layout.block(ofLayer: slot.layer)
            let dW = trainer.grad(block, slot.weightOffset)!
            if slot.linearWeight {
                linearAdapterGradients(slot, dW: dW, adapters: a, scale: s)
                continue
            }
            parallelSgemm(transA: false, transB: true, m: slot.inDim, n: slot.rank, k: slot.outDim, alpha: s,
                          a: dW, lda: slot.outDim, b: a + slot.bOffset, ldb: slot.outDim,
                          beta: 0, c: gradients + slot.aOffset, ldc: slot.rank)
            parallelSgemm(transA: true, transB: false, m: slot.rank, n: slot.outDim, k: slot.inDim, alpha: s,
                          a: a + slot.aOffset, lda: slot.rank, b: dW, ldb: slot.outDim,
                          beta: 0, c: gradients + slot.bOffset, ldc: slot.outDim)
        }
        return loss
    }

    /// dA = s · dWᵀ Bᵀ and dB = s · Aᵀ dWᵀ for a weight stored [out, in].
    private func linearAdapterGradients(_ slot: LoRASlot, dW: UnsafeMutablePointer<Float>, adapters a: UnsafeMutablePointer<Float>,
                                        scale s: Float) {
        parallelSgemm(transA: true, transB: true, m: slot.inDim, n: slot.rank, k: slot.outDim, alpha: s,
                      a: dW, lda: slot.inDim, b: a + slot.bOffset, ldb: slot.outDim,
                      beta: 0, c: gradients + slot.aOffset, ldc: slot.rank)
        parallelSgemm(transA: true, transB: true, m: slot.rank, n: slot.outDim, k: slot.inDim, alpha: s,
                      a: a + slot.aOffset, lda: slot.rank, b: dW, ldb: slot.inDim,
                      beta: 0, c: gradients + slot.bOffset, ldc: slot.outDim)
    }

    /// One AdamW step on the adapters from the last forwardBackward's gradient (decay as `settings` says).
    public func applyAdamW(adapters: UnsafeMutableBufferPointer<Float>, settings: AdamWSettings) {
        precondition(adapters.count == layout.parameterCount, "adapter vector does not match the layout")
        optimizerStep += 1
        adamWUpdate(params: adapters.baseAddress!, grads: gradients, m: m, v: v, count: layout.parameterCount,
                    learningRate: settings.learningRate, beta1: settings.beta1, beta2: settings.beta2,
                    epsilon: settings.epsilon, weightDecay: settings.weightDecay, step: optimizerStep)
    }

    /// forwardBackward then applyAdamW; returns the loss before the update. `base` is only read.
    public func step(base: ParameterBuffer, adapters: UnsafeMutableBufferPointer<Float>,
                     inputs: [Int32], targets: [Int32], settings: AdamWSettings) -> Float {
        let loss = forwardBackward(base: base, adapters: adapters, inputs: inputs, targets: targets)
        applyAdamW(adapters: adapters, settings: settings)
        return loss
    }

    /// Forget moments and step count, as at the start of a new client visit.
    public func resetOptimizer() {
        optimizerStep = 0
        m.update(repeating: 0, count: layout.parameterCount)
        v.update(repeating: 0, count: layout.parameterCount)
    }
}
