/// Which blocks a cycle visits: job key `train.blocks`.
public enum BlockSet: String, CaseIterable, Sendable {
    /// The embeddings (block 0), every transformer layer (1...L) and the final norm (L + 1).
    case all
    /// Transformer layers only (1...L); the embeddings and the final norm stay as initialised or loaded.
    case layers

    /// The block indices of a model with `layers` transformer layers, ascending.
    public func blocks(layers: Int) -> [Int] {
        precondition(layers >= 0, "a model has a non-negative number of layers")
        switch self {
        case .all: return Array(0...(layers + 1))
        case .layers: return Array(1..<(layers + 1))
        }
    }

    public init(parsing text: String, key: String = "train.blocks") throws {
        self = try Self.parse(text, key: key)
    }
}
