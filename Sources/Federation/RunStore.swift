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
    /// Wall time of the round, including evaluation.
    public var seconds: Double
    /// CPU time the server rank used during the round.
    public var serverCPUSeconds: Double

    public init(round: Int, cycle: Int, block: Int, clients: [Int], trainLoss: Float, evalLoss: Float,
                bytesDown: Int, bytesUp: Int, bytesBroadcast: Int, rejectedUploads: Int = 0, seconds: Double,
                serverCPUSeconds: Double) {
        self.round = round; self.cycle = cycle; self.block = block; self.clients = clients
        self.trainLoss = trainLoss; self.evalLoss = evalLoss; self.bytesDown = bytesDown; self.bytesUp = bytesUp
        self.bytesBroadcast = bytesBroadcast; self.rejectedUploads = rejectedUploads; self.seconds = seconds; self.serverCPUSeconds = serverCPUSeconds
    }
}

/// Where the run stands after a round: what a checkpoint must hold besides the parameters.
public struct RunState: Sendable, Equatable {
    /// Rounds completed.
    public var round: Int
    public var cycle: Int
    /// The block order of the current cycle.
    public var blockOrder: [Int]
    /// For each client, the last round whose model it holds (0 = never synchronised).
    public var clientLastSync: [Int]
    public var totalBytesDown: Int
    public var totalBytesUp: Int
    public var totalBytesBroadcast: Int
    public var tokensTrained: Int

    public init(round: Int, cycle: Int, blockOrder: [Int], clientLastSync: [Int], totalBytesDown: Int,
                totalBytesUp: Int, totalBytesBroadcast: Int, tokensTrained: Int) {
        self.round = round; self.cycle = cycle; self.blockOrder = blockOrder; self.clientLastSync = clientLastSync
        self.totalBytesDown = totalBytesDown; self.totalBytesUp = totalBytesUp
        self.totalBytesBroadcast = totalBytesBroadcast; self.tokensTrained = tokensTrained
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

    public init(rounds: Int, clients: Int, parameterCount: Int, totalBytesDown: Int, totalBytesUp: Int,
                totalBytesBroadcast: Int, tokensTrained: Int, initialEvalLoss: Float, finalEvalLoss: Float,
                wallSeconds: Double, serverCPUSeconds: Double) {
        self.rounds = rounds; self.clients = clients; self.parameterCount = parameterCount
        self.totalBytesDown = totalBytesDown; self.totalBytesUp = totalBytesUp
        self.totalBytesBroadcast = totalBytesBroadcast; self.tokensTrained = tokensTrained
        self.initialEvalLoss = initialEvalLoss; self.finalEvalLoss = finalEvalLoss
        self.wallSeconds = wallSeconds; self.serverCPUSeconds = serverCPUSeconds
    }
}

/// Persists a run: its job, its history and its checkpoints. Only the server rank holds one.
///
/// The HDF5 adapter writes `runs/<name>/history.h5` and `checkpoint-<round>.h5`;
/// `MemoryRunStore` keeps everything in memory for tests.
public protocol RunStore: AnyObject {
    /// Starts a run: records the job text, the model shape and the number of clients per round.
    func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws
    /// Appends one history row.
    func append(_ record: RoundRecord) throws
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

    public func append(_ record: RoundRecord) throws { records.append(record) }

    public func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws {
        checkpoints.append((state, Array(parameters.storage)))
    }

    public func finish(_ summary: RunSummary) throws { self.summary = summary }
}
