import Corpus
import GPT

/// Hears what a run does, on rank 0, so the command line can report progress.
public protocol FederationObserver: AnyObject {
    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, initialEvalLoss: Float)
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
    /// `initial` is the starting model and is read only on rank 0.
    @discardableResult
    public static func run(settings: FederationSettings, corpus: FederatedCorpus, initial: ParameterBuffer,
                           transport: Transport, store: RunStore?, jobText: String,
                           observer: FederationObserver?) throws -> RunSummary? {
        let placement = ClientPlacement(ranks: transport.size)
        let host = placement.hostsClients(rank: transport.rank)
            ? ClientHost(settings: settings, corpus: corpus, rank: transport.rank, placement: placement) : nil
        guard transport.rank == 0 else {
            try serveClients(host: host, transport: transport)
            return nil
        }
        let server = FederationServer(settings: settings, corpus: corpus, initial: initial)
        var loop = ServerLoop(server: server, host: host, transport: transport, placement: placement,
                              store: store, observer: observer)
        return try loop.run(jobText: jobText, corpus: corpus)
    }

    /// A client rank: apply each broadcast, train what it hosts, until the server says stop.
    private static func serveClients(host: ClientHost?, transport: Transport) throws {
        while true {
            var bytes: [UInt8] = []
            try transport.broadcast(&bytes, root: 0)
            guard let host else {
                if try Download.apply(bytes, to: nil).header.finished { return }
                continue
            }
            if try host.handle(broadcast: bytes, transport: transport).header.finished { return }
        }
    }
}

/// Rank 0's round loop, kept apart from the entry point so each step reads on its own.
struct ServerLoop {
    let server: FederationServer
    let host: ClientHost?
    let transport: Transport
    let placement: ClientPlacement
    let store: RunStore?
    let observer: FederationObserver?
    var totals = RunTotals()

    private var settings: FederationSettings { server.settings }

    mutating func run(jobText: String, corpus: FederatedCorpus) throws -> RunSummary {
        let started = ProcessMetrics.now()
        let cpuStarted = ProcessMetrics.cpuSeconds()
        let initialEval = server.evaluate()
        try store?.begin(jobText: jobText, layout: server.global.layout, clientsPerRound: settings.clientsPerRound)
        observer?.runStarted(settings: settings, corpus: corpus, ranks: transport.size, initialEvalLoss: initialEval)

        var lastEval = initialEval
        for round in 1...max(settings.rounds, 1) where settings.rounds > 0 {
            let record = try play(round: round)
            if !record.evalLoss.isNaN { lastEval = record.evalLoss }
            try store?.append(record)
            let elapsed = ProcessMetrics.now() - started
            observer?.roundFinished(record, totalRounds: settings.rounds,
                                    etaSeconds: elapsed / Double(round) * Double(settings.rounds - round))
            if settings.checkpointEvery > 0, round % settings.checkpointEvery == 0, round < settings.rounds {
                try store?.saveCheckpoint(parameters: server.global, state: server.state(round: round, totals: totals))
            }
        }
        try stopClients()
        try store?.saveCheckpoint(parameters: server.global, state: server.state(round: settings.rounds, totals: totals))
        let summary = RunSummary(
            rounds: settings.rounds, clients: server.schedule.clientCount,
            parameterCount: server.global.layout.parameterCount, totalBytesDown: totals.bytesDown,
            totalBytesUp: totals.bytesUp, totalBytesBroadcast: totals.bytesBroadcast,
            tokensTrained: totals.tokensTrained, initialEvalLoss: initialEval, finalEvalLoss: lastEval,
            wallSeconds: ProcessMetrics.now() - started, serverCPUSeconds: ProcessMetrics.cpuSeconds() - cpuStarted)
        try store?.finish(summary)
        observer?.runFinished(summary, rejections: server.rejections.count)
        return summary
    }

    /// One round: broadcast, local training where rank 0 hosts clients, collection, evaluation when due.
    private mutating func play(round: Int) throws -> RoundRecord {
        let started = ProcessMetrics.now()
        let cpuStarted = ProcessMetrics.cpuSeconds()
        let (header, bytes, chargedDown) = server.prepare(round: round)
        var broadcast = bytes
        try transport.broadcast(&broadcast, root: 0)
        if let host { try host.handle(broadcast: bytes, transport: transport) }
        let rejectedBefore = server.rejections.count
        let (loss, bytesUp) = server.collect(header: header, transport: transport, placement: placement)
        let acceptedClients = header.clients.count - (server.rejections.count - rejectedBefore)
        let due = server.schedule.endsCycle(round) || round == settings.rounds
        let evalLoss = due ? server.evaluate() : .nan

        totals.bytesDown += chargedDown
        totals.bytesUp += bytesUp
        totals.bytesBroadcast += bytes.count
        totals.tokensTrained += acceptedClients * settings.localSteps * settings.batch * settings.sequence
        return RoundRecord(
            round: round, cycle: server.schedule.cycle(ofRound: round), block: header.block,
            clients: header.clients, trainLoss: loss, evalLoss: evalLoss, bytesDown: chargedDown,
            bytesUp: bytesUp, bytesBroadcast: bytes.count, rejectedUploads: header.clients.count - acceptedClients, seconds: ProcessMetrics.now() - started,
            serverCPUSeconds: ProcessMetrics.cpuSeconds() - cpuStarted)
    }

    private func stopClients() throws {
        var stop = Download.encode(header: .stop(), blocks: [], parameters: server.global)
        try transport.broadcast(&stop, root: 0)
    }
}
