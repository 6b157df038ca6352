import Corpus
import GPT

/// Federated cycle block gradient descent (Wang, Wang, Tang, arXiv 2406.11187) as an SPMD
/// program: every rank calls `run`, and the transport's rank decides its part.
///
/// Each round the schedule plans what the round trains (the cycle's next block in the job's
/// block order, or for a baseline every block or the LoRA adapters) and which k clients train
/// it (`CycleSchedule`, `RoundPlan`). Rank 0 broadcasts the round header with every unit the
/// client ranks need refreshed, the selected clients train for E local AdamW steps from fresh
/// optimizer state and upload what they trained, and rank 0 checks the uploads, takes their
/// sample-weighted mean and installs it (`ServerLoop`, `FederationServer`, `ClientHost`).
public enum FedCyBGD {
    /// Runs the whole job. Rank 0 returns the summary; other ranks return nil once told to stop.
    ///
    /// - Parameters:
    ///   - initial: the starting model on rank 0; on other ranks a buffer of the same shape, which
    ///     becomes the rank's view of the model (its contents are overwritten by the broadcasts).
    ///   - resuming: on rank 0, the state of the checkpoint `initial` was loaded from; the run
    ///     continues after its round and writes history from there, into a `store` the caller
    ///     has already resumed (`RunStore.resume`), so a history that cannot be rebuilt stops the
    ///     job before any rank starts.
    ///   - probe: the process's CPU time and peak memory, for the history (`SystemProcessProbe`).
    ///   - stopRequested: asked by rank 0 after every round; when true, rank 0 writes a
    ///     checkpoint, stops the clients and returns a summary marked `interrupted`.
    @discardableResult
    public static func run(settings requested: FederationSettings, corpus full: FederatedCorpus, initial: ParameterBuffer,
                           transport: Transport, store: RunStore?, jobText: String,
                           observer: FederationObserver?, probe: ProcessProbe, resuming: RunState? = nil,
                           stopRequested: @escaping () -> Bool = { false }) throws -> RunSummary? {
        let (settings, corpus) = requested.effective(corpus: full)
        // On rank 0 the global model; on a client rank `initial` is a blank of the model's shape
        // that becomes the rank's view, so a client holds one copy of the model, not two.
        let global = FederatedModel.forRun(settings, parameters: initial)
        let timed = TimedTransport(transport)
        let placement = ClientPlacement(ranks: transport.size)
        let host = placement.hostsClients(rank: transport.rank)
            ? ClientHost(settings: settings, corpus: corpus, rank: transport.rank, placement: placement,
                         view: transport.rank == 0 ? global.emptyCopy() : global) : nil
        host?.clock = timed.clock
        guard transport.rank == 0 else {
            try serveClients(host: host, transport: timed, clientCount: corpus.clients.count, probe: probe)
            return nil
        }
        let server = FederationServer(settings: settings, corpus: corpus, initial: global, resuming: resuming)
        var loop = ServerLoop(server: server, host: host, transport: timed, placement: placement,
                              store: store, observer: observer, probe: probe, stopRequested: stopRequested)
        return try loop.run(jobText: jobText, corpus: corpus, resuming: resuming)
    }

    /// On rank 0: tells the client ranks to stop, after the last round of `run`, or in a run with
    /// nothing left to do while they wait for the first round inside `run`.
    public static func releaseClients(transport: Transport) throws {
        var stop = Download.encodeStop()
        try transport.broadcast(&stop, root: 0)
    }

    /// A client rank: apply each broadcast, train what it hosts, until the server says stop.
    private static func serveClients(host: ClientHost?, transport: TimedTransport, clientCount: Int,
                                     probe: ProcessProbe) throws {
        while true {
            let header: RoundHeader
            do {
                var bytes: [UInt8] = []
                try transport.broadcast(&bytes, root: 0)
                header = try host?.apply(broadcast: bytes).header
                    ?? transport.clock.charge(.communication) { try Download.apply(bytes, to: nil) }.header
            }
            // The payload is freed before training: in the first round it is the whole model,
            // and keeping it would add a model's size to the client's peak memory.
            if header.finished { return }
            try host?.train(header, transport: transport)
            try RoundMeasurement.report(round: header.round, transport: transport, clientCount: clientCount, probe: probe)
        }
    }
}
