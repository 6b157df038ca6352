import GPT

/// A complete checkpoint a store holds: its name (for messages) and the job that wrote it.
public struct StoredCheckpoint: Sendable, Equatable {
    public let name: String
    public let jobText: String

    public init(name: String, jobText: String) {
        self.name = name
        self.jobText = jobText
    }
}

/// What a checkpoint holds for a resumed run: the model and the run's state.
public struct CheckpointContents {
    public let parameters: ParameterBuffer
    public let state: RunState

    public init(parameters: ParameterBuffer, state: RunState) {
        self.parameters = parameters
        self.state = state
    }
}

/// Persists a run: its job, its history and its checkpoints, and reads back what a resume needs.
/// Only the server rank holds one.
///
/// The HDF5 adapter writes `runs/<name>/history.h5` and `checkpoint-<round>.h5`;
/// `MemoryRunStore` keeps everything in memory for tests.
public protocol RunStore: AnyObject {
    /// The newest complete checkpoint whose contents verify, or nil when there is none. Each newer
    /// one that does not verify is passed over and told to `passedOver` with what is wrong.
    func latestCheckpoint(passedOver: (_ name: String, _ problem: String) -> Void) throws -> StoredCheckpoint?
    /// Reads `checkpoint`'s model and state; a checkpoint of another layout is refused.
    func load(_ checkpoint: StoredCheckpoint, layout: ParameterLayout) throws -> CheckpointContents
    /// Starts a run: records the job text, the model shape and the number of clients per round.
    func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws
    /// Continues a run from its checkpoint of `round`, once, before any rank starts the rounds:
    /// the history is made to hold exactly the rows up to that round (the resumed run writes the
    /// later ones again), and `note` (when, from where, which keys changed) is recorded with it.
    func resume(jobText: String, layout: ParameterLayout, round: Int, note: String) throws
    /// Whether the history holds every row up to `round` and the final summary, all readable: a
    /// run whose last checkpoint is its final round is finished only then (a kill while the
    /// summary was written leaves the checkpoint complete and the history not).
    func holdsFinishedRun(throughRound round: Int) -> Bool
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
