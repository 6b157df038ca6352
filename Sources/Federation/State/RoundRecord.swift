/// One row of the run history: what one round did and cost. The history's columns are declared
/// once, with their units, in the HDF5 adapter's `HistorySchema`; docs/RUN-FILES.md defines them.
public struct RoundRecord: Sendable, Equatable {
    /// 1-based round and cycle numbers; a cycle visits every block once.
    public var round: Int
    public var cycle: Int
    /// What the round trained.
    public var target: RoundTarget
    /// The clients that trained this round, in aggregation order.
    public var clients: [Int]
    /// Sample-weighted mean of the clients' mean training losses over their local steps.
    @BitExact public var trainLoss: Float
    /// Held-out loss after the round, or NaN when this round did not evaluate.
    @BitExact public var evalLoss: Float
    /// Bytes the selected clients had to download: for each, the encoded units changed since it last synchronised.
    public var bytesDown: Int
    /// Encoded bytes of the uploads the server accepted.
    public var bytesUp: Int
    /// Bytes rank 0 actually broadcast this round (header plus changed units).
    public var bytesBroadcast: Int
    /// Uploads the server left out of the aggregate this round (bad header, size or values).
    public var rejectedUploads: Int
    /// Sample-weighted mean of the accepted clients' loss at their first and at their last local step.
    @BitExact public var lossBefore: Float
    @BitExact public var lossAfter: Float
    /// L2 norm of the change the round made to what it trained, `UpdateSize.l2Distance` (0 when
    /// every upload was rejected). The norm guard screens the uploads' RMS instead (`UpdateSize.rms`).
    @BitExact public var updateNorm: Float
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
    /// into compute, communication and waiting (seconds; NaN when not measured). For every
    /// measured rank the three add up to `seconds`.
    public var rankPeakRSS: [Int] = []
    @BitExact public var rankComputeSeconds: [Double] = []
    @BitExact public var rankCommSeconds: [Double] = []
    @BitExact public var rankWaitSeconds: [Double] = []
    /// Instruction data, at rounds that evaluate: the validation split's loss per task, and the
    /// greedy answers' exact match and F1 overall and per task (`EvaluationScores`). NaN, or
    /// empty, when the round did not evaluate or the data is plain text.
    @BitExact public var evalTaskLoss: [Float] = []
    @BitExact public var evalExactMatch: Float = .nan
    @BitExact public var evalF1: Float = .nan
    @BitExact public var evalTaskExactMatch: [Float] = []
    @BitExact public var evalTaskF1: [Float] = []

    public init(round: Int, cycle: Int, target: RoundTarget, clients: [Int], trainLoss: Float, evalLoss: Float,
                bytesDown: Int, bytesUp: Int, bytesBroadcast: Int, rejectedUploads: Int = 0,
                lossBefore: Float = .nan, lossAfter: Float = .nan, updateNorm: Float = .nan, seconds: Double,
                serverCPUSeconds: Double) {
        self.round = round; self.cycle = cycle; self.target = target; self.clients = clients
        self.trainLoss = trainLoss; self.evalLoss = evalLoss; self.bytesDown = bytesDown; self.bytesUp = bytesUp
        self.bytesBroadcast = bytesBroadcast; self.rejectedUploads = rejectedUploads
        self.lossBefore = lossBefore; self.lossAfter = lossAfter; self.updateNorm = updateNorm
        self.seconds = seconds; self.serverCPUSeconds = serverCPUSeconds
    }

    /// The embedding shard the round trained, or -1 (a history column); setting a shard makes the
    /// target that shard, setting -1 leaves it as it is.
    public var embeddingShard: Int {
        get { target.shard ?? -1 }
        set { if newValue >= 0 { target = .shard(newValue) } }
    }

    /// The record a round's plan starts: what it trained and who trained it, with nothing measured yet.
    public init(plan: RoundPlan) {
        self.init(round: plan.round, cycle: plan.cycle, target: plan.target, clients: plan.clients,
                  trainLoss: .nan, evalLoss: .nan, bytesDown: 0, bytesUp: 0, bytesBroadcast: 0, seconds: 0,
                  serverCPUSeconds: 0)
    }
}
