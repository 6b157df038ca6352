import GPT

/// How a block's values split into tensors and rows, for the codecs that work per row (int8's
/// absmax scales) or per tensor (pruning's density).
///
/// A block is several tensors of different shapes laid end to end. Codecs work per tensor rather
/// than on fixed-length rows of the whole block: a fixed row would straddle tensor boundaries and
/// put a LayerNorm gain (about 1) under the same int8 scale as attention weights (about 0.02), and
/// pruning the block as one pool would always keep the gains and drop whole bias vectors.
/// A tensor's rows run along its last dimension (Hugging Face layout: a Conv1D weight [in, out]
/// has `in` rows of `out`, an embedding [V, C] has one row per token); a 1-D tensor is one row.
public struct RowLayout: Sendable, Hashable {
    /// One tensor: `count` values in rows of `rowLength`.
    public struct Segment: Sendable, Hashable {
        public let count: Int
        public let rowLength: Int
        public var rows: Int { count / rowLength }
    }

    public let segments: [Segment]
    /// Values in all segments.
    public let count: Int
    /// Rows in all segments.
    public let rowCount: Int

    /// Layouts come from code (a model's parameter layout), never from a user, so a malformed
    /// one is a programming error.
    public init(segments: [(count: Int, rowLength: Int)]) {
        var built: [Segment] = []
        for (count, rowLength) in segments {
            precondition(rowLength > 0 && count >= 0 && count % rowLength == 0,
                         "a segment of \(count) values cannot be cut into rows of \(rowLength)")
            built.append(Segment(count: count, rowLength: rowLength))
        }
        self.segments = built
        self.count = built.reduce(0) { $0 + $1.count }
        self.rowCount = built.reduce(0) { $0 + $1.rows }
    }

    /// One tensor of `count` values in rows of `rowLength`.
    public static func uniform(count: Int, rowLength: Int) -> RowLayout {
        RowLayout(segments: [(count, rowLength)])
    }

    /// The tensors of block `block` of a GPT-2 model, in buffer order.
    public init(block: Int, of layout: ParameterLayout) {
        self.init(tensors: layout.tensors.filter { $0.block == block })
    }

    /// The rows of `tensors`, in order: each tensor's last dimension is its row length.
    public init(tensors: [TensorSlot]) {
        self.init(segments: tensors.map { ($0.count, $0.shape.last ?? 1) })
    }
}
