import Determinism

/// The model's parameters: one contiguous, owned Float buffer.
public final class ParameterBuffer: @unchecked Sendable {
    public let layout: ParameterLayout
    public let storage: UnsafeMutableBufferPointer<Float>

    /// Zero-filled.
    public init(layout: ParameterLayout) {
        self.layout = layout
        // Cache-line aligned, as the trainer's buffers are (FloatStorage.make says why).
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(layout.parameterCount, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        storage = UnsafeMutableBufferPointer(start: raw.bindMemory(to: Float.self, capacity: layout.parameterCount),
                                             count: layout.parameterCount)
        storage.initialize(repeating: 0)
    }

    deinit { storage.deallocate() }

    /// GPT-2 initialisation (normal 0.02; residual projections scaled by 1/sqrt(2L); LayerNorm 1 and 0),
    /// or Llama's as transformers does it (normal 0.02 for every matrix, norms 1), drawn from
    /// CounterRNG(seed, .initialization). Tensors are filled in buffer order from one stream.
    public static func initialized(layout: ParameterLayout, seed: UInt64) -> ParameterBuffer {
        let buffer = ParameterBuffer(layout: layout)
        var rng = CounterRNG(seed: seed, purpose: .initialization)
        let projectionStd = 0.02 / Double(2 * layout.config.layers).squareRoot()
        for slot in layout.tensors {
            let t = buffer.tensor(slot)
            let norm = ["ln_1.weight", "ln_2.weight", "ln_f.weight", "norm.weight"].contains { slot.name.hasSuffix($0) }
            if norm {
                t.update(repeating: 1)
            } else if slot.name.hasSuffix(".bias") {
                t.update(repeating: 0)
            } else {
                let std = slot.name.hasSuffix("c_proj.weight") ? projectionStd : 0.02
                for i in 0..<t.count { t[i] = Float(rng.nextGaussian() * std) }
            }
        }
        return buffer
    }

    public func copy() -> ParameterBuffer {
        let other = ParameterBuffer(layout: layout)
        other.storage.baseAddress!.update(from: storage.baseAddress!, count: storage.count)
        return other
    }

    /// Copies every value from `other`, which must have the same layout size.
    public func assign(from other: ParameterBuffer) {
        precondition(other.storage.count == storage.count, "parameter buffers differ in size")
        storage.baseAddress!.update(from: other.storage.baseAddress!, count: storage.count)
    }

    public func block(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        let r = layout.blocks[index].range
        return UnsafeMutableBufferPointer(rebasing: storage[r])
    }

    public func tensor(_ slot: TensorSlot) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: storage[slot.offset..<(slot.offset + slot.count)])
    }

    /// The tensor with this Hugging Face name, or nil.
    public func tensor(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { tensor($0) }
    }

    /// Pointer to element `offset` of the buffer.
    @inline(__always)
    var base: UnsafeMutablePointer<Float> { storage.baseAddress! }
}
