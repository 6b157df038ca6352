/// What the server made of one round's uploads.
public struct RoundOutcome: Sendable {
    /// Sample-weighted mean losses of the accepted clients: over all local steps, first step, last step.
    public var loss: Float = .nan
    public var lossBefore: Float = .nan
    public var lossAfter: Float = .nan
    /// The change installed in the trained units: its `UpdateSize.l2Distance`.
    public var updateL2Distance: Float = 0
    /// Bytes of the accepted uploads (header plus body).
    public var bytesUp = 0
    /// Bytes received from each selected client, in plan order, whether accepted or not.
    public var clientBytesUp: [Int] = []
    public var accepted = 0
    public var rejected = 0
    /// Training tokens the accepted clients processed.
    public var tokensTrained = 0

    /// Copies the round's results into its record.
    public func fill(_ record: inout RoundRecord) {
        record.trainLoss = loss
        record.lossBefore = lossBefore
        record.lossAfter = lossAfter
        record.updateNorm = updateL2Distance
        record.bytesUp = bytesUp
        record.clientBytesUp = clientBytesUp
        record.rejectedUploads = rejected
    }
}
