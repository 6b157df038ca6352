/// What a round trains: one block, every block, or the LoRA adapters. The algorithm decides
/// which (`Algorithm.target(block:)`); everything downstream reads it from the round's plan.
public enum RoundTarget: Hashable, Sendable, CustomStringConvertible {
    /// One block of the model (FedCyBGD, BAdam): 0 = embeddings, 1...L = layers, L + 1 = final norm.
    case block(Int)
    /// Every parameter of the model (FedAvg, centralized).
    case allBlocks
    /// The LoRA adapters, with the base model frozen (FedLoRA).
    case adapters

    /// The block, when the round trains exactly one.
    public var block: Int? {
        if case let .block(block) = self { return block }
        return nil
    }

    public var description: String {
        switch self {
        case let .block(block): return "block \(block)"
        case .allBlocks: return "every block"
        case .adapters: return "the adapters"
        }
    }
}
