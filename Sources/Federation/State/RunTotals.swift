/// The running totals of a run's cost and progress: what a checkpoint keeps so the summary of a
/// resumed run covers the whole run.
public struct RunTotals: Sendable, Equatable {
    /// Bytes charged to the selected clients' downloads, received in accepted uploads, and broadcast by rank 0.
    public var bytesDown = 0
    public var bytesUp = 0
    public var bytesBroadcast = 0
    /// Training tokens the accepted uploads processed.
    public var tokensTrained = 0
    /// Uploads left out of the aggregate.
    public var rejectedUploads = 0
    /// Held-out loss of the initial model, and of the model at the last evaluation.
    @BitExact public var initialEvalLoss: Float = .nan
    @BitExact public var lastEvalLoss: Float = .nan

    public init() {}

    /// Adds a round: its record, and the tokens its accepted uploads trained.
    public mutating func add(_ record: RoundRecord, tokensTrained tokens: Int) {
        bytesDown += record.bytesDown
        bytesUp += record.bytesUp
        bytesBroadcast += record.bytesBroadcast
        rejectedUploads += record.rejectedUploads
        tokensTrained += tokens
    }
}
