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
