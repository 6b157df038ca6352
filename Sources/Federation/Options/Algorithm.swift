/// Which method a run trains with: job key `train.algorithm`. FedCyBGD and its baselines share
/// the engine (data, partitions, schedule, evaluation and byte accounting); they differ only in
/// what a round trains and sends.
public enum Algorithm: String, CaseIterable, Sendable {
    /// Federated cycle block gradient descent: each round trains one block on k clients.
    case fedcybgd
    /// Federated averaging: each round every selected client trains all parameters and uploads them.
    case fedavg
    /// Federated LoRA: the base model is frozen; clients train and upload LoRA adapters only.
    case fedlora
    /// One trainer holding all the training data, training all parameters: the upper reference.
    case centralized
    /// Block-cyclic training (BAdam) by one trainer holding all the training data, without federation.
    case badam

    /// Whether every client is merged into one that holds all the training data.
    public var poolsClients: Bool { self == .centralized || self == .badam }

    /// Whether a round trains one block (or one embedding shard), so that the cycle matters.
    public var trainsOneBlock: Bool { self == .fedcybgd || self == .badam }

    /// Whether a resumed run continues from the checkpoint's model. Not fedlora's: its checkpoint
    /// holds the merged model, and training continues from the frozen base it started from
    /// (`model.init`, unchanged by the run) plus the checkpoint's adapters (the server's state).
    public var resumesFromCheckpointModel: Bool { self != .fedlora }

    /// What a round whose turn in the cycle falls on `visited` (a block or an embedding shard) trains.
    public func target(visiting visited: RoundTarget) -> RoundTarget {
        switch self {
        case .fedcybgd, .badam: return visited
        case .fedavg, .centralized: return .allBlocks
        case .fedlora: return .adapters
        }
    }

    public init(parsing text: String, key: String = "train.algorithm") throws {
        self = try Self.parse(text, key: key)
    }
}
