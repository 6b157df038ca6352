import GPT

/// One row of the run history: what one round did and cost.
public struct RoundRecord: Sendable, Equatable {
    /// 1-based round number.
    public var round: Int
    /// 1-based cycle number; a cycle visits every block once.
    public var cycle: Int
    public var block: Int
    /// The clients that trained this round, in aggregation order.
    public var clients: [Int]
    /// Sample-weighted mean of the clients' mean training losses over their local steps.
    public var trainLoss: Float
    /// Held-out loss after the round, or NaN when this round did not evaluate.
    public var evalLoss: Float
    /// Bytes the selected clients had to download: for each, the encoded blocks changed since it last synchronised.
    public var bytesDown: Int
    /// Encoded bytes the selected clients uploaded.
    public var bytesUp: Int
    /// Bytes rank 0 actually broadcast this round (header plus changed blocks).
    public var bytesBroadcast: Int
    /// Uploads the server left out of the aggregate this round (bad header, size or values).
    public var rejectedUploads: Int
    /// Sample-weighted mean of the accepted clients' loss at their first local step.
    public var lossBefore: Float
    /// Sample-weighted mean of the accepted clients' loss at their last local step.
    public var lossAfter: Float
    /// L2 norm of the change the round made to its block (0 when every upload was rejected).
    public var updateNorm: Float
    /// Wall time of the round on rank 0, including its evaluation unless that ran during the next
    /// round (docs/RUN-FILES.md, "Time split").
    public var seconds: Double
    /// CPU time the server rank used during the round.
    public var serverCPUSeconds: Double
    /// Per selected client, in `clients` order: bytes it was charged to download, and encoded
    /// bytes the server received from it (a rejected upload still counts what arrived).
    public var clientBytesDown: [Int] = []
    public var clientBytesUp: [Int] = []
    /// Per rank (index = rank), measured on that rank: peak resident set size of its process so
    /// far (`VmHWM`, bytes; -1 when its report was unreadable), and the round's wall time split
    /// into compute, communication and waiting (seconds; NaN when not measured). Defined in
    /// docs/RUN-FILES.md; for every measured rank the three add up to `seconds`.
    public var rankPeakRSS: [Int] = []
    public var rankComputeSeconds: [Double] = []
    public var rankCommSeconds: [Double] = []
    public var rankWaitSeconds: [Double] = []

    public init(round: Int, cycle: Int, block: Int, clients: [Int], trainLoss: Float, evalLoss: Float,
                bytesDown: Int, bytesUp: Int, bytesBroadcast: Int, rejectedUploads: Int = 0,
                lossBefore: Float = .nan, lossAfter: Float = .nan, updateNorm: Float = .nan, seconds: Double,
                serverCPUSeconds: Double) {
        self.round = round; self.cycle = cycle; self.block = block; self.clients = clients
        self.trainLoss = trainLoss; self.evalLoss = evalLoss; self.bytesDown = bytesDown; self.bytesUp = bytesUp
        self.bytesBroadcast = bytesBroadcast; self.rejectedUploads = rejectedUploads
        self.lossBefore = lossBefore; self.lossAfter = lossAfter; self.updateNorm = updateNorm; self.seconds = seconds; self.serverCPUSeconds = serverCPUSeconds
    }
    /// Field-by-field equality in which a NaN loss equals a NaN loss (rounds that did not evaluate).
    public static func == (a: RoundRecord, b: RoundRecord) -> Bool {
        a.round == b.round && a.cycle == b.cycle && a.block == b.block && a.clients == b.clients
            && a.trainLoss.bitPattern == b.trainLoss.bitPattern && a.evalLoss.bitPattern == b.evalLoss.bitPattern
            && a.bytesDown == b.bytesDown && a.bytesUp == b.bytesUp && a.bytesBroadcast == b.bytesBroadcast
            && a.rejectedUploads == b.rejectedUploads && a.lossBefore.bitPattern == b.lossBefore.bitPattern
            && a.lossAfter.bitPattern == b.lossAfter.bitPattern && a.updateNorm.bitPattern == b.updateNorm.bitPattern
            && a.seconds == b.seconds && a.serverCPUSeconds == b.serverCPUSeconds
            && a.clientBytesDown == b.clientBytesDown && a.clientBytesUp == b.clientBytesUp
            && a.rankPeakRSS == b.rankPeakRSS && a.rankComputeSeconds.map(\.bitPattern) == b.rankComputeSeconds.map(\.bitPattern)
            && a.rankCommSeconds.map(\.bitPattern) == b.rankCommSeconds.map(\.bitPattern)
            && a.rankWaitSeconds.map(\.bitPattern) == b.rankWaitSeconds.map(\.bitPattern)
    }
}

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

/// The totals a run reports at its end.
public struct RunSummary: Sendable, Equatable {
    public var rounds: Int
    public var clients: Int
    public var parameterCount: Int
    public var totalBytesDown: Int
    public var totalBytesUp: Int
    public var totalBytesBroadcast: Int
    public var tokensTrained: Int
    public var initialEvalLoss: Float
    public var finalEvalLoss: Float
    public var wallSeconds: Double
    public var serverCPUSeconds: Double
    public var rejectedUploads: Int
    /// The run stopped early on request (a signal), after a checkpoint; `rounds` were completed.
    public var interrupted: Bool
    /// Bytes down + up per client over the whole run, over the clients that took part: the mean
    /// and the largest (`RunMeasures`).
    public var bytesPerClientMean: Double = 0
    public var bytesPerClientMax = 0
    /// Peak RSS over the run, in bytes: the largest of the client ranks (of rank 0 in one-rank
    /// rounds), and of rank 0; -1 when none was measured.
    public var peakClientRSS = -1
    public var peakServerRSS = -1
    /// Fraction of this start's wall time the client ranks spent computing: their compute
    /// seconds over the rounds of this start / (client ranks × `wallSeconds`), in [0, 1]
    /// (`ClientComputeShare`); -1 when no round was measured.
    public var clientComputeFraction: Double = -1

    public init(rounds: Int, clients: Int, parameterCount: Int, totalBytesDown: Int, totalBytesUp: Int,
                totalBytesBroadcast: Int, tokensTrained: Int, initialEvalLoss: Float, finalEvalLoss: Float,
                wallSeconds: Double, serverCPUSeconds: Double, rejectedUploads: Int = 0, interrupted: Bool = false) {
        self.rounds = rounds; self.clients = clients; self.parameterCount = parameterCount
        self.totalBytesDown = totalBytesDown; self.totalBytesUp = totalBytesUp
        self.totalBytesBroadcast = totalBytesBroadcast; self.tokensTrained = tokensTrained
        self.initialEvalLoss = initialEvalLoss; self.finalEvalLoss = finalEvalLoss
        self.wallSeconds = wallSeconds; self.serverCPUSeconds = serverCPUSeconds
        self.rejectedUploads = rejectedUploads; self.interrupted = interrupted
    }
}

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
    /// Stores a block's weights after the round that trained it (only when snapshots are on).
    func appendSnapshot(block: Int, round: Int, values: UnsafeBufferPointer<Float>) throws
    /// Writes a complete checkpoint atomically; an existing checkpoint is never damaged.
    func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws
    /// Records the final summary.
    func finish(_ summary: RunSummary) throws
}

/// A run store that keeps everything in memory, for tests of the algorithm.
public final class MemoryRunStore: RunStore {
    public private(set) var jobText = ""
    public private(set) var records: [RoundRecord] = []
    public private(set) var checkpoints: [(state: RunState, parameters: [Float])] = []
    public private(set) var summary: RunSummary?

    public init() {}

    public func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws {
        self.jobText = jobText
    }

    public func resume(jobText: String, layout: ParameterLayout, round: Int) throws {
        self.jobText = jobText
        records.removeAll { $0.round > round }
    }

    public func append(_ record: RoundRecord) throws { records.append(record) }

    public private(set) var snapshots: [(block: Int, round: Int, values: [Float])] = []

    public func appendSnapshot(block: Int, round: Int, values: UnsafeBufferPointer<Float>) throws {
        snapshots.append((block, round, Array(values)))
    }

    public func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws {
        checkpoints.append((state, Array(parameters.storage)))
    }

    public func finish(_ summary: RunSummary) throws { self.summary = summary }
}
