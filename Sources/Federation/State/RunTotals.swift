/// Running totals of a run's cost.
public struct RunTotals: Sendable, Equatable {
    public var bytesDown = 0
    public var bytesUp = 0
    public var bytesBroadcast = 0
    public var tokensTrained = 0
    public var initialEvalLoss: Float = .nan
    public var lastEvalLoss: Float = .nan
    public init() {}

    /// The totals a checkpoint saved.
    public init(_ state: RunState) {
        bytesDown = state.totalBytesDown; bytesUp = state.totalBytesUp; bytesBroadcast = state.totalBytesBroadcast
        tokensTrained = state.tokensTrained; initialEvalLoss = state.initialEvalLoss; lastEvalLoss = state.lastEvalLoss
    }
}
