import Corpus
import GPT

/// Hears what a run does, on rank 0, so the command line can report progress.
public protocol FederationObserver: AnyObject {
    /// `resumedAfterRound` is the checkpoint's round when the run continues one; `evalLoss` is then the last evaluation before it.
    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, evalLoss: Float, resumedAfterRound: Int?)
    func roundFinished(_ record: RoundRecord, totalRounds: Int, etaSeconds: Double)
    func runFinished(_ summary: RunSummary, rejections: Int)
}

/// Federated cycle block gradient descent (Wang, Wang, Tang, arXiv 2406.11187) as an SPMD
/// program: every rank calls `run`, and the transport's rank decides its part.
///
/// Each round the server picks the next block in ascending cycle order and the next k clients,
/// broadcasts the round header with every block changed since the previous broadcast, the
/// selected clients train that block for E local AdamW steps from fresh optimizer state and
/// upload it, and the server checks the uploads, takes their sample-weighted mean and installs it.
public enum FedCyBGD {
    /// Runs the whole job. Rank 0 returns the summary; other ranks return nil once told to stop.
    ///
    /// - Parameters:
    ///   - initial: the starting model on rank 0; on other ranks a buffer of the same shape, which
    ///     becomes the rank's view of the model (its contents are overwritten by the broadcasts).
    ///   - resuming: on rank 0, the state of the checkpoint `initial` was loaded from; the run
    ///     continues after its round and writes history from there.
    ///   - stopRequested: asked by rank 0 after every round; when true, rank 0 writes a
    ///     checkpoint, stops the clients and returns a summary marked `interrupted`.
    @discardableResult
    public static func run(settings requested: FederationSettings, corpus full: FederatedCorpus, initial: ParameterBuffer,
                           transport: Transport, store: RunStore?, jobText: String,
                           observer: FederationObserver?, resuming: RunState? = nil,
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
            try serveClients(host: host, transport: timed, clientCount: corpus.clients.count)
            return nil
        }
        let server = FederationServer(settings: settings, corpus: corpus, initial: global, resuming: resuming)
        var loop = ServerLoop(server: server, host: host, transport: timed, placement: placement,
                              store: store, observer: observer, stopRequested: stopRequested)
        return try loop.run(jobText: jobText, corpus: corpus, resuming: resuming)
    }

    /// On rank 0 of a run with nothing left to do: tells the client ranks, which are waiting for
    /// the first round inside `run`, to stop.
    public static func releaseClients(transport: Transport) throws {
        var stop = Download.encodeStop()
        try transport.broadcast(&stop, root: 0)
    }

    /// A client rank: apply each broadcast, train what it hosts, until the server says stop.
    private static func serveClients(host: ClientHost?, transport: TimedTransport, clientCount: Int) throws {
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
            try RoundMeasurement.report(round: header.round, transport: transport, clientCount: clientCount)
        }
    }
}

/// Rank 0's round loop, kept apart from the entry point so each step reads on its own.
struct ServerLoop {
    let server: FederationServer
    let host: ClientHost?
    let transport: TimedTransport
    let placement: ClientPlacement
    let store: RunStore?
    let observer: FederationObserver?
    let stopRequested: () -> Bool
    var totals = RunTotals()
    var measures = RunMeasures()

    private var settings: FederationSettings { server.settings }

    mutating func run(jobText: String, corpus: FederatedCorpus, resuming: RunState?) throws -> RunSummary {
        let started = ProcessMetrics.now()
        let cpuStarted = ProcessMetrics.cpuSeconds()
        let firstRound = (resuming?.round ?? 0) + 1
        if let resuming {
            totals = RunTotals(resuming)
            try store?.resume(jobText: jobText, layout: server.global.parameters.layout, round: resuming.round)
            measures = RunMeasures(history: try (store as? RecordedHistory)?.recordedRounds() ?? [])
        } else {
            totals.initialEvalLoss = server.evaluate()
            totals.lastEvalLoss = totals.initialEvalLoss
            try store?.begin(jobText: jobText, layout: server.global.parameters.layout, clientsPerRound: settings.clientsPerRound)
        }
        observer?.runStarted(settings: settings, corpus: corpus, ranks: transport.size,
                             evalLoss: totals.lastEvalLoss, resumedAfterRound: resuming?.round)

        var completed = firstRound - 1
        var interrupted = false
        while completed < settings.rounds {
            let round = completed + 1
            let record = try play(round: round)
            measures.add(record)
            completed = round
            try store?.append(record)
            if settings.snapshots, record.block >= 0 {
                try store?.appendSnapshot(block: record.block, round: round, values: UnsafeBufferPointer(server.global.unit(record.block)))
            }
            let elapsed = ProcessMetrics.now() - started
            observer?.roundFinished(record, totalRounds: settings.rounds,
                                    etaSeconds: elapsed / Double(round - firstRound + 1) * Double(settings.rounds - round))
            if round < settings.rounds, stopRequested() {
                interrupted = true
                break
            }
            if settings.checkpointEvery > 0, round % settings.checkpointEvery == 0, round < settings.rounds {
                try saveCheckpoint(round: round)
            }
        }
        try stopClients()
        try saveCheckpoint(round: completed)
        var summary = RunSummary(
            rounds: completed, clients: server.schedule.clientCount,
            parameterCount: server.global.parameters.layout.parameterCount, totalBytesDown: totals.bytesDown,
            totalBytesUp: totals.bytesUp, totalBytesBroadcast: totals.bytesBroadcast,
            tokensTrained: totals.tokensTrained, initialEvalLoss: totals.initialEvalLoss,
            finalEvalLoss: totals.lastEvalLoss, wallSeconds: ProcessMetrics.now() - started,
            serverCPUSeconds: ProcessMetrics.cpuSeconds() - cpuStarted, rejectedUploads: server.rejectedCount,
            interrupted: interrupted)
        measures.fill(&summary)
        if !interrupted { try store?.finish(summary) }
        observer?.runFinished(summary, rejections: server.rejectedCount)
        return summary
    }

    private func saveCheckpoint(round: Int) throws {
        try store?.saveCheckpoint(parameters: server.currentModel(), state: server.state(round: round, totals: totals))
    }

    /// One round: broadcast, local training where rank 0 hosts clients, collection, evaluation when due.
    private mutating func play(round: Int) throws -> RoundRecord {
        let started = ProcessMetrics.now()
        let cpuStarted = ProcessMetrics.cpuSeconds()
        transport.clock.lap()
        let (header, bytes, chargedDown) = transport.clock.charge(.communication) { server.prepare(round: round) }
        var broadcast = bytes
        try transport.broadcast(&broadcast, root: 0)
        if let host { try host.handle(broadcast: bytes, transport: transport) }
        let outcome = server.collect(header: header, transport: transport, placement: placement)
        let reports = RoundMeasurement.collect(round: round, transport: transport, clientCount: server.schedule.clientCount)
        let due = server.schedule.endsCycle(round) || round == settings.rounds
        let evalLoss = due ? server.evaluate() : .nan
        if due { totals.lastEvalLoss = evalLoss }

        totals.bytesDown += chargedDown.reduce(0, +)
        totals.bytesUp += outcome.bytesUp
        totals.bytesBroadcast += bytes.count
        totals.tokensTrained += outcome.tokensTrained
        var record = RoundRecord(
            round: round, cycle: server.schedule.cycle(ofRound: round), block: header.block,
            clients: header.clients, trainLoss: outcome.loss, evalLoss: evalLoss, bytesDown: chargedDown.reduce(0, +),
            bytesUp: outcome.bytesUp, bytesBroadcast: bytes.count, rejectedUploads: outcome.rejected,
            lossBefore: outcome.lossBefore, lossAfter: outcome.lossAfter, updateNorm: outcome.updateNorm,
            seconds: ProcessMetrics.now() - started, serverCPUSeconds: ProcessMetrics.cpuSeconds() - cpuStarted)
        record.clientBytesDown = chargedDown
        record.clientBytesUp = outcome.clientBytesUp
        RoundMeasurement.fill(&record, server: transport.clock.lap(), reports: reports)
        return record
    }

    private func stopClients() throws {
        var stop = Download.encodeStop()
        try transport.broadcast(&stop, root: 0)
    }
}
