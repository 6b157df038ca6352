/// Where the run stands after a round: everything a checkpoint must hold besides the parameters
/// and the job, so that a resumed run equals the uninterrupted one bit for bit. Random draws need
/// no saved state: they are keyed by (seed, round, client), and the learning rate by the round.
public struct RunState: Sendable, Equatable {
    /// Rounds completed.
    public var round: Int
    public var cycle: Int
    /// The block order of the current cycle.
    public var blockOrder: [Int]
    /// For each client, the round of the broadcast it last synchronised from (0 = never).
    public var clientLastSync: [Int]
    /// For each block, the round that last changed it (0 = the initial model): what delta sync sends.
    public var blockChangedRound: [Int]
    public var totalBytesDown: Int
    public var totalBytesUp: Int
    public var totalBytesBroadcast: Int
    public var tokensTrained: Int
    /// Uploads rejected so far.
    public var rejectedUploads: Int
    /// Held-out loss of the initial model, and of the model at the last evaluation.
    public var initialEvalLoss: Float
    public var lastEvalLoss: Float
    /// The update-norm guard's memory: recent accepted update sizes and how many were accepted.
    public var updateNorms: UpdateNormGuard.State
    /// Delta sync's memory: what each client and the client ranks' views hold of each unit
    /// (nil in checkpoints written before codecs existed; then rebuilt from `clientLastSync`).
    public var downloads: DownloadPlanner.SavedState? = nil
    /// The LoRA adapters of a fedlora run (empty otherwise).
    public var adapters: [Float] = []

    public init(round: Int, cycle: Int, blockOrder: [Int], clientLastSync: [Int], blockChangedRound: [Int] = [],
                totalBytesDown: Int, totalBytesUp: Int, totalBytesBroadcast: Int, tokensTrained: Int,
                rejectedUploads: Int = 0, initialEvalLoss: Float = .nan, lastEvalLoss: Float = .nan,
                updateNorms: UpdateNormGuard.State = .init()) {
        self.round = round; self.cycle = cycle; self.blockOrder = blockOrder; self.clientLastSync = clientLastSync
        self.blockChangedRound = blockChangedRound
        self.totalBytesDown = totalBytesDown; self.totalBytesUp = totalBytesUp
        self.totalBytesBroadcast = totalBytesBroadcast; self.tokensTrained = tokensTrained
        self.rejectedUploads = rejectedUploads; self.initialEvalLoss = initialEvalLoss; self.lastEvalLoss = lastEvalLoss
        self.updateNorms = updateNorms
    }

    /// Bit-for-bit equality, where NaN losses count as equal to NaN.
    public static func == (a: RunState, b: RunState) -> Bool {
        a.round == b.round && a.cycle == b.cycle && a.blockOrder == b.blockOrder && a.clientLastSync == b.clientLastSync
            && a.blockChangedRound == b.blockChangedRound && a.totalBytesDown == b.totalBytesDown
            && a.totalBytesUp == b.totalBytesUp && a.totalBytesBroadcast == b.totalBytesBroadcast
            && a.tokensTrained == b.tokensTrained && a.rejectedUploads == b.rejectedUploads
            && a.initialEvalLoss.bitPattern == b.initialEvalLoss.bitPattern
            && a.lastEvalLoss.bitPattern == b.lastEvalLoss.bitPattern && a.updateNorms == b.updateNorms
            && a.downloads == b.downloads && a.adapters == b.adapters
    }
}
