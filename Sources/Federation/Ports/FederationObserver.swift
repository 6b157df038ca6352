import Corpus

/// Hears what a run does, on rank 0, so the command line can report progress.
public protocol FederationObserver: AnyObject {
    /// `resumedAfterRound` is the checkpoint's round when the run continues one; `evalLoss` is then the last evaluation before it.
    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, evalLoss: Float, resumedAfterRound: Int?)
    func roundFinished(_ record: RoundRecord, totalRounds: Int, etaSeconds: Double)
    func runFinished(_ summary: RunSummary, rejections: Int)
}
