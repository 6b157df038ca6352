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
    /// Instruction data: the greedy answers' exact match and F1 at the last evaluation (NaN for
    /// plain text or without generation).
    @BitExact public var finalExactMatch: Float = .nan
    @BitExact public var finalF1: Float = .nan
    /// Instruction data: the final model on the test split, evaluated once when the run
    /// finishes (never used to choose anything): response loss, exact match and F1 (NaN for
    /// plain text, or when the test split is empty).
    @BitExact public var testLoss: Float = .nan
    @BitExact public var testExactMatch: Float = .nan
    @BitExact public var testF1: Float = .nan

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
