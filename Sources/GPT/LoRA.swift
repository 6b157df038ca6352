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

/// The four matrices of a transformer layer that carry an adapter.
public enum LoRATarget: String, CaseIterable, Sendable {
    case attention = "attn.c_attn", attentionProjection = "attn.c_proj"
    case mlp = "mlp.c_fc", mlpProjection = "mlp.c_proj"

    var weight: LayerTensor {
        switch self {
        case .attention: return .qkvWeight
        case .attentionProjection: return .attnProjWeight
        case .mlp: return .fcWeight
        case .mlpProjection: return .fcProjWeight
        }
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
}

/// Where every adapter lives in one contiguous Float vector.
///
/// Order: layer 0...L-1, and within a layer c_attn, attn.c_proj, c_fc, mlp.c_proj, each as A [in, r]
/// then B [r, out], row-major. A and B are stored in the base weights' Conv1D orientation, so peft's
/// `lora_A.weight` [r, in] is our A transposed and its `lora_B.weight` [out, r] is our B transposed.
public struct LoRALayout: Sendable {
    public let model: GPTConfig
    public let lora: LoRAConfig
    public let slots: [LoRASlot]
    /// Every A and B as a named tensor ("transformer.h.0.attn.c_attn.lora_A", [in, r]), for storage;
    /// `block` is the layer's block index in the model.
    public let tensors: [TensorSlot]
    public let parameterCount: Int

    public init(model: GPTConfig, lora: LoRAConfig) {
        self.model = model; self.lora = lora
        let c = model.embedDim, r = lora.rank
        let parameters = ParameterLayout(config: model)
        var slots: [LoRASlot] = [], tensors: [TensorSlot] = []
        var offset = 0
        for l in 0..<model.layers {
            for target in LoRATarget.allCases {
                let shape = target.weight.shape(c)
                let slot = LoRASlot(layer: l, target: target, inDim: shape[0], outDim: shape[1], rank: r,
                                    aOffset: offset, bOffset: offset + shape[0] * r,
                                    weightOffset: parameters.offset(layer: l, target.weight))
                let name = "transformer.h.\(l).\(target.rawValue)"
                tensors.append(TensorSlot(name: name + ".lora_A", shape: [shape[0], r], offset: slot.aOffset,
                                          count: shape[0] * r, block: l + 1))
                tensors.append(TensorSlot(name: name + ".lora_B", shape: [r, shape[1]], offset: slot.bOffset,
                                          count: r * shape[1], block: l + 1))
                slots.append(slot)
                offset = slot.bOffset + r * shape[1]
            }
        }
        self.slots = slots; self.tensors = tensors; parameterCount = offset
    }

    /// The adapter of layer `layer`'s `target` matrix.
    public func slot(layer: Int, _ target: LoRATarget) -> LoRASlot {
        slots[layer * LoRATarget.allCases.count + LoRATarget.allCases.firstIndex(of: target)!]
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
        for s in layout.slots {
            parallelSgemm(transA: false, transB: false, m: s.inDim, n: s.outDim, k: s.rank, alpha: layout.lora.scale,
                          a: a + s.aOffset, lda: s.rank, b: a + s.bOffset, ldb: s.outDim,
                          beta: 1, c: w + s.weightOffset, ldc: s.outDim)
        }
    }

    /// `merge` with adapters held in a `LoRAAdapters`.
    public static func merge(base: ParameterBuffer, adapters: LoRAAdapters, into: ParameterBuffer) {
        merge(base: base, adapters: UnsafeBufferPointer(adapters.storage), layout: adapters.layout, into: into)
    }
}
