import GPT

/// One tensor of a checkpoint: its Hugging Face name and shape, and where it lives in the
/// contiguous parameter buffer. Built from a `TensorSlot`, or by hand where no layout exists.
public struct CheckpointTensor: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    /// Offset of the first element in the parameter buffer.
    public var offset: Int
    /// The training block the tensor belongs to, recorded as an attribute (-1: none).
    public var block: Int

    public var count: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], offset: Int, block: Int = -1) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.block = block
    }

    public init(_ slot: TensorSlot) {
        self.init(name: slot.name, shape: slot.shape, offset: slot.offset, block: slot.block)
    }

    /// The tensors of a layout, in buffer order.
    public static func list(_ layout: ParameterLayout) -> [CheckpointTensor] {
        layout.tensors.map(CheckpointTensor.init)
    }
}
