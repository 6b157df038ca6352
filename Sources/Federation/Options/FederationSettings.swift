import GPT

/// Everything the FedCyBGD algorithm needs to know about a run, independent of files and flags.
public struct FederationSettings: Sendable, Equatable {
    /// The model shape.
    public var model: GPTConfig
    /// Total rounds. What a round's clients train is the algorithm's choice (`Algorithm.target`):
    /// one block or embedding shard for fedcybgd and badam, every block for fedavg and centralized,
    /// the LoRA adapters for fedlora.
    public var rounds: Int
    /// k: clients that train each round, aggregated by sample-weighted mean.
    public var clientsPerRound: Int
    /// E: local AdamW steps per client visit, with fresh optimizer state.
    public var localSteps: Int
    public var batch: Int
    public var sequence: Int
    public var optimizer: AdamWSettings
    public var seed: UInt64
    /// Validation batches per evaluation (each batch × sequence tokens).
    public var evalBatches: Int
    /// Instruction data: validation prompts answered greedily at each evaluation (0: none).
    public var evalPrompts = FederationSettings.Defaults.evalPrompts
    /// Instruction data: the most ids a greedy answer may have.
    public var evalMaxNewTokens = FederationSettings.Defaults.evalMaxNewTokens
    /// Instruction data: test prompts answered once when the run finishes (0: none).
    public var testPrompts = FederationSettings.Defaults.testPrompts
    /// Write a checkpoint every this many rounds (0: only at the end).
    public var checkpointEvery: Int
    /// Store each block's weights after every visit (history.h5 `/blocks/<b>/snapshots`).
    public var snapshots = false
    /// Which blocks a cycle visits, and in which order.
    public var blockSet = BlockSet.all
    public var blockOrder = BlockOrder.ascending
    /// How each round picks its clients.
    public var clientSelection = ClientSelection.cyclic
    /// The learning rate across rounds; `optimizer.learningRate` is its base.
    public var learningRateSchedule = LearningRateSchedule()
    /// Local steps per visit, or local epochs; nil means `localSteps`.
    public var localEpochs: Double?
    /// The server's bound on each upload's update size.
    public var updateNormGuard = UpdateNormGuard.Configuration.default
    /// Clients that deliberately send corrupted uploads (robustness experiments and tests).
    public var faultyClients: [Int: UploadFault] = [:]
    /// FedCyBGD or one of the baselines run by the same engine.
    public var algorithm = Algorithm.fedcybgd
    /// How blocks a client only runs forward travel in the download; trained units are always exact fp32.
    public var downloadEncoding = BlockEncoding.fp32
    /// How a client's trained units travel back: fp32 sends the values, fp16 and int8 their change.
    public var uploadEncoding = BlockEncoding.fp32
    /// S: the embeddings (block 0) are trained as S units of vocabulary rows, each its own visit in
    /// the cycle (`train.embedding_shards`; fedcybgd and badam only). 1: one block, as the others.
    public var embeddingShards = 1
    /// Frozen layers a FedCyBGD client skips, and so does not download.
    public var layerDrop = LayerDrop()
    /// The adapters fedlora trains (rank and alpha); unused by the other algorithms.
    public var lora = FederationSettings.Defaults.lora

    /// The steps a client holding `tokens` training tokens runs per visit.
    public func localSteps(forClientTokens tokens: Int) -> Int {
        let work: LocalWork = localEpochs.map { .epochs($0) } ?? .steps(localSteps)
        return work.steps(forClientTokens: tokens, batch: batch, sequence: sequence)
    }

    /// The learning rate of 1-based `round`.
    public func learningRate(round: Int) -> Float {
        learningRateSchedule.rate(round: round, totalRounds: rounds, base: optimizer.learningRate)
    }

    public init(model: GPTConfig, rounds: Int, clientsPerRound: Int = 1, localSteps: Int, batch: Int, sequence: Int,
                optimizer: AdamWSettings, seed: UInt64, evalBatches: Int = 16, checkpointEvery: Int = 0) {
        self.model = model; self.rounds = rounds; self.clientsPerRound = clientsPerRound
        self.localSteps = localSteps; self.batch = batch; self.sequence = sequence
        self.optimizer = optimizer; self.seed = seed; self.evalBatches = evalBatches
        self.checkpointEvery = checkpointEvery
    }

    /// Blocks per cycle: the model's blocks (the embeddings, each layer, the final norm with an untied head).
    public var blockCount: Int { model.blockCount }
}

extension FederationSettings {
    /// The values settings take when a job leaves them out; the job schema's defaults are these.
    public enum Defaults {
        public static let evalPrompts = 32
        public static let evalMaxNewTokens = 64
        public static let testPrompts = 128
        /// fedlora's adapters: rank 8, alpha 16 (ΔW scaled by alpha / rank = 2).
        public static let lora = LoRAConfig(rank: 8, alpha: 16)
    }
}
