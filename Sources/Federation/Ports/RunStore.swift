import GPT

/// Persists a run: its job, its history and its checkpoints. Only the server rank holds one.
///
/// The HDF5 adapter writes `runs/<name>/history.h5` and `checkpoint-<round>.h5`;
/// `MemoryRunStore` keeps everything in memory for tests.
public protocol RunStore: AnyObject {
    /// Starts a run: records the job text, the model shape and the number of clients per round.
    func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws
    /// Continues a run from its checkpoint of `round`: history rows after that round are dropped,
    /// because the resumed run writes them again.
    func resume(jobText: String, layout: ParameterLayout, round: Int) throws
    /// Appends one history row.
    func append(_ record: RoundRecord) throws
    /// The history rows stored so far, oldest first: a resumed run's summary starts from them.
    func recordedRounds() throws -> [RoundRecord]
    /// Stores a block's weights after the round that trained it (only when snapshots are on).
    func appendSnapshot(block: Int, round: Int, values: UnsafeBufferPointer<Float>) throws
    /// Writes a complete checkpoint atomically; an existing checkpoint is never damaged.
    func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws
    /// Records the final summary.
    func finish(_ summary: RunSummary) throws
    /// Instruction data, once after `begin`: the task names the per-task values are indexed by,
    /// and per task the counted validation targets the evaluation batches hold.
    func recordTasks(_ tasks: [String], validationTokens: [Int]) throws
    /// Instruction data: the greedy answers of the evaluation after `round`, stored after its row.
    func appendAnswers(_ answers: [GeneratedAnswer], round: Int) throws
    /// Instruction data: the final model's scores on the test split, when the run finishes.
    func recordTest(_ scores: EvaluationScores, round: Int) throws
}

extension RunStore {
    /// Stores that keep no per-task records ignore the tasks.
    public func recordTasks(_ tasks: [String], validationTokens: [Int]) throws {}
    public func appendAnswers(_ answers: [GeneratedAnswer], round: Int) throws {}
    public func recordTest(_ scores: EvaluationScores, round: Int) throws {}
}
