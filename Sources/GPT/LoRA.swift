import Determinism
import Kernels

/// Rank and scaling of LoRA adapters (ΔW = alpha / rank · A · B).
public struct LoRAConfig: Codable, Hashable, Sendable {
    public var rank: Int
    public var alpha: Float
    public init(rank: Int, alpha: Float) {
        precondition(rank > 0, "LoRA rank must be positive, found \(rank)")
        self.rank = rank; self.alpha = alpha
    }
    /// The factor ΔW is scaled by: alpha / rank.
    public var scale: Float { alpha / Float(rank) }
}

/// The matrices of a transformer layer that carry an adapter: GPT-2's four, Llama's seven.
public enum LoRATarget: String, CaseIterable, Sendable {
    case attention = "attn.c_attn", attentionProjection = "attn.c_proj"
    case mlp = "mlp.c_fc", mlpProjection = "mlp.c_proj"
    case query = "self_attn.q_proj", key = "self_attn.k_proj", value = "self_attn.v_proj", output = "self_attn.o_proj"
    case gate = "mlp.gate_proj", up = "mlp.up_proj", down = "mlp.down_proj"

    /// The targets of one family's layers, in adapter-vector order.
    public static func targets(of architecture: Architecture) -> [LoRATarget] { architecture.family.loraTargets }

    /// The adapted weight's (in, out) sizes and its offset in layer `layer`: the layer's tensor named
    /// after the target, stored [out, in] by nn.Linear families and [in, out] by Conv1D ones.
    func weight(_ layout: ParameterLayout, layer: Int) -> (inDim: Int, outDim: Int, offset: Int, linear: Bool) {
        let family = layout.config.family, name = family.layerPrefix(layer) + rawValue + ".weight"
        guard let slot = layout.tensor(named: name) else { preconditionFailure("a \(family.name) layer has no \(name)") }
        let linear = family.storesLinearWeights
        return (linear ? slot.shape[1] : slot.shape[0], linear ? slot.shape[0] : slot.shape[1], slot.offset, linear)
    }
}

/// One adapter: the pair (A [in, r], B [r, out]) for one layer's matrix W [in, out].
public struct LoRASlot: Hashable, Sendable {
    public let layer: Int
    public let target: LoRATarget
    public let inDim, outDim, rank: Int
    /// Where A and B start in the adapter vector (A then B, contiguous).
    public let aOffset, bOffset: Int
    /// Where W starts in the model's parameter buffer.
    public let weightOffset: Int
    /// Whether W is stored [out, in] (nn.Linear, Llama) rather than [in, out] (Conv1D, GPT-2).
    public let linearWeight: Bool
}

/// Where every adapter lives in one contiguous Float vector.
///
/// Order: layer 0...L-1, and within a layer the family's targets (`LoRATarget.targets`), each
/// as A [in, r] then B [r, out], row-major, so ΔW = s · A · B in [in, out] orientation whatever the
/// base weight's storage. peft's `lora_A.weight` [r, in] is our A transposed and its `lora_B.weight`
/// [out, r] is our B transposed.
public struct LoRALayout: Sendable {
    public let model: GPTConfig
    public let lora: LoRAConfig
    public let slots: [LoRASlot]
    /// Every A and B as a named tensor ("transformer.h.0.attn.c_attn.lora_A", [in, r]), for storage;
    /// `block` is the layer's block index in the model.
    public let tensors: [TensorSlot]
    public let parameterCount: Int
    /// The adapted matrices of each layer.
    public let targets: [LoRATarget]

    public init(model: GPTConfig, lora: LoRAConfig) {
        self.model = model; self.lora = lora
        let r = lora.rank
        let parameters = ParameterLayout(config: model)
        targets = LoRATarget.targets(of: model.architecture)
        var slots: [LoRASlot] = [], tensors: [TensorSlot] = []
        var offset = 0
        for l in 0..<model.layers {
            for target in targets {
                let w = target.weight(parameters, layer: l)
                let slot = LoRASlot(layer: l, target: target, inDim: w.inDim, outDim: w.outDim, rank: r,
                                    aOffset: offset, bOffset: offset + w.inDim * r, weightOffset: w.offset,
                                    linearWeight: w.linear)
                let name = model.family.layerPrefix(l) + target.rawValue
                tensors.append(TensorSlot(name: name + ".lora_A", shape: [w.inDim, r], offset: slot.aOffset,
                                          count: w.inDim * r, block: l + 1))
                tensors.append(TensorSlot(name: name + ".lora_B", shape: [r, w.outDim], offset: slot.bOffset,
                                          count: r * w.outDim, block: l + 1))
                slots.append(slot)
                offset = slot.bOffset + r * w.outDim
            }
        }
        self.slots = slots; self.tensors = tensors; parameterCount = offset
    }

    /// Floats of the adapter vector, computed without building the layout (for sizing jobs).
    public static func parameterCount(model: GPTConfig, rank: Int) -> Double {
        var single = model
        single.layers = 1
        let perLayer = LoRATarget.targets(of: model.architecture).reduce(0.0) { sum, target in
            let w = target.weight(ParameterLayout(config: single), layer: 0)
            return sum + Double(w.inDim + w.outDim) * Double(rank)
        }
        return perLayer * Double(model.layers)
    }

    /// The adapter of layer `layer`'s `target` matrix.
    public func slot(layer: Int, _ target: LoRATarget) -> LoRASlot {
        slots[layer * targets.count + targets.firstIndex(of: target)!]
    }
}

/// LoRA adapters: one contiguous, owned Float vector laid out by a `LoRALayout`.
public final class LoRAAdapters: @unchecked Sendable {
    public let layout: LoRALayout
    public let storage: UnsafeMutableBufferPointer<Float>

    /// Zero-filled.
    public init(layout: LoRALayout) {
        self.layout = layout
        storage = .allocate(capacity: max(layout.parameterCount, 1))
        storage.initialize(repeating: 0)
    }

    deinit { storage.deallocate() }

    /// peft's default initialisation: B = 0, so the merged model starts equal to the base, and A
    /// Kaiming-uniform with a = √5 as torch's nn.Linear, i.e. uniform in ±1/√in, drawn from
    /// CounterRNG(seed, .loraInitialization) in layout order.
    public static func initialized(layout: LoRALayout, seed: UInt64) -> LoRAAdapters {
        let adapters = LoRAAdapters(layout: layout)
        var rng = CounterRNG(seed: seed, purpose: .loraInitialization)
        for slot in layout.slots {
            let bound = 1 / Float(slot.inDim).squareRoot()
            let a = adapters.storage.baseAddress! + slot.aOffset
            for i in 0..<(slot.inDim * slot.rank) { a[i] = (2 * rng.nextUnitFloat() - 1) * bound }
        }
        return adapters
    }

    public func copy() -> LoRAAdapters {
        let other = LoRAAdapters(layout: layout)
        other.storage.baseAddress!.update(from: storage.baseAddress!, count: storage.count)
        return other
    }

    /// The tensor with this name (see `LoRALayout.tensors`), or nil.
    public func tensor(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        guard let t = layout.tensors.first(where: { $0.name == name }) else { return nil }
        return UnsafeMutableBufferPointer(rebasing: storage[t.offset..<(t.offset + t.count)])
    }
}

/// Folding adapters into a model's weights.
public enum LoRAMerge {
    /// `into` = `base` with W += (alpha / r) · A · B for every adapted matrix; every other tensor is
    /// copied. `into` may be `base` itself (the merge then happens in place).
    public static func merge(base: ParameterBuffer, adapters: UnsafeBufferPointer<Float>, layout: LoRALayout,
                             into: ParameterBuffer) {
        precondition(base.layout.matches(layout.model) && into.layout.matches(layout.model),
                     "parameter buffers do not match the adapters' model")
        precondition(adapters.count >= layout.parameterCount, "adapter vector is shorter than its layout")
        if into !== base { into.assign(from: base) }
        let a = adapters.baseAddress!, w = into.base
        for s in layout.slots where !s.linearWeight {
            parallelSgemm(transA: false, transB: false, m: s.inDim, n: s.outDim, k: s.rank, alpha: layout.lora.scale,
                          a: a + s.aOffset, lda: s.rank, b: a + s.bOffset, ldb: s.outDim,
                          beta: 1, c: w + s.weightOffset, ldc: s.outDim)
        }
        // nn.Linear weights are [out, in]: W += s · Bᵀ Aᵀ.
        for s in layout.slots where s.linearWeight {
            parallelSgemm(transA: true, transB: true, m: s.outDim, n: s.inDim, k: s.rank, alpha: layout.lora.scale,
                          a: a + s.bOffset, lda: s.outDim, b: a + s.aOffset, ldb: s.rank,
                          beta: 1, c: w + s.weightOffset, ldc: s.inDim)
        }
    }

    /// `merge` with adapters held in a `LoRAAdapters`.
    public static func merge(base: ParameterBuffer, adapters: LoRAAdapters, into: ParameterBuffer) {
        merge(base: base, adapters: UnsafeBufferPointer(adapters.storage), layout: adapters.layout, into: into)
    }
}
