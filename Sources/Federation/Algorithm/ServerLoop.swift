import Corpus
import GPT

/// Rank 0's round loop, kept apart from the entry point so each step reads on its own.
///
/// The held-out evaluation does not hold the clients back where the algorithm allows: the model
/// evaluated after round r is fixed once round r is aggregated, and round r + 1 changes it only
/// when its uploads are installed. So after a round that evaluates, rank 0 broadcasts round r + 1
/// first, evaluates while the clients train, records round r, and then collects round r + 1's
/// uploads. The initial model is evaluated the same way, during round 1. A round evaluates at
/// once, before the next broadcast, when it is the last, when a checkpoint follows it or when a
/// stop was requested: the checkpoint holds the server's state and loss as of that round.
struct ServerLoop {
    let server: FederationServer
    let host: ClientHost?
    let transport: TimedTransport
    let placement: ClientPlacement
    let store: RunStore?
    let observer: FederationObserver?
    let stopRequested: () -> Bool
    /// CPU time and peak memory of this process.
    let probe: ProcessProbe
    var totals = RunTotals()
    var measures = RunMeasures()
    /// The client ranks' compute over the rounds of this start, for the summary's fraction.
    var computeShare: ClientComputeShare
    /// When this start began, and its first round, for the ETA.
    private var started = MonotonicClock.now()
    private var firstRound = 1

    init(server: FederationServer, host: ClientHost?, transport: TimedTransport, placement: ClientPlacement,
         store: RunStore?, observer: FederationObserver?, probe: ProcessProbe, stopRequested: @escaping () -> Bool) {
        self.server = server; self.host = host; self.transport = transport; self.placement = placement
        self.store = store; self.observer = observer; self.probe = probe; self.stopRequested = stopRequested
        self.computeShare = ClientComputeShare(ranks: transport.size)
    }

    private var settings: FederationSettings { server.settings }

    /// What waits for an evaluation that runs while the next round's clients train.
    enum Pending {
        /// The initial model: announcing the run waits for its loss.
        case start(FederatedCorpus)
        /// A round whose record waits for its evaluation.
        case round(RoundRecord)
    }

    /// A round whose broadcast has gone out.
    struct OpenRound {
        let plan: RoundPlan
        let broadcastBytes: Int
        let chargedDown: [Int]
        let started: Double
        let cpuStarted: Double
    }

    /// A round whose uploads are aggregated; its record lacks the evaluation and the time split.
    struct ClosedRound {
        let opened: OpenRound
        var record: RoundRecord
        let reports: [RankReport?]
    }

    mutating func run(jobText: String, corpus: FederatedCorpus, resuming: RunState?) throws -> RunSummary {
        started = MonotonicClock.now()
        let cpuStarted = probe.cpuSeconds()
        firstRound = (resuming?.round ?? 0) + 1
        let layout = server.global.parameters.layout
        var pending: Pending?
        if let resuming {
            // The caller resumed the store (`RunStore.resume`) before any rank started.
            totals = resuming.totals
            measures = RunMeasures(history: try store?.recordedRounds() ?? [])
            announce(corpus, resumedAfterRound: resuming.round)
        } else {
            try store?.begin(jobText: jobText, layout: layout, clientsPerRound: settings.clientsPerRound)
            if let tasks = corpus.heldOutContext?.tasks {
                try store?.recordTasks(tasks, validationTokens: server.validationTaskTokens)
            }
            pending = .start(corpus)
        }
        let (completed, interrupted) = try playRounds(pending: pending)
        try FedCyBGD.releaseClients(transport: transport)
        try saveCheckpoint(round: completed)
        var summary = RunSummary(
            rounds: completed, clients: server.schedule.clientCount,
            parameterCount: layout.parameterCount, totalBytesDown: totals.bytesDown,
            totalBytesUp: totals.bytesUp, totalBytesBroadcast: totals.bytesBroadcast,
            tokensTrained: totals.tokensTrained, initialEvalLoss: totals.initialEvalLoss,
            finalEvalLoss: totals.lastEvalLoss, wallSeconds: MonotonicClock.now() - started,
            serverCPUSeconds: probe.cpuSeconds() - cpuStarted, rejectedUploads: totals.rejectedUploads,
            interrupted: interrupted)
        measures.fill(&summary)
        summary.clientComputeFraction = computeShare.fraction(wallSeconds: summary.wallSeconds)
        if !interrupted, let test = server.evaluateTest() {
            // Once, on the final model, after the last round: the test split chooses nothing.
            (summary.testLoss, summary.testExactMatch, summary.testF1) = (test.loss, test.exactMatch, test.f1)
            try store?.recordTest(test, round: completed)
        }
        if !interrupted { try store?.finish(summary) }
        observer?.runFinished(summary, rejections: totals.rejectedUploads)
        return summary
    }

    /// Plays the rounds after `firstRound - 1`, each evaluation as early as the algorithm allows;
    /// returns the last completed round and whether a stop request cut the run short.
    private mutating func playRounds(pending initial: Pending?) throws -> (completed: Int, interrupted: Bool) {
        var pending = initial
        var completed = firstRound - 1
        while completed < settings.rounds {
            let round = completed + 1
            let opened = try open(round: round)
            // The clients train round `round` now; the previous model is evaluated meanwhile.
            if let waiting = pending { try finish(waiting) }
            pending = nil
            var closed = close(opened)
            completed = round
            let last = round == settings.rounds
            let stop = !last && stopRequested()
            let checkpoint = !last && settings.checkpointEvery > 0 && round % settings.checkpointEvery == 0
            let evaluates = server.schedule.endsCycle(round) || last
            if evaluates, !last, !stop, !checkpoint {
                pending = .round(seal(closed))
                continue
            }
            let answers = evaluates ? evaluate(into: &closed.record) : []
            try record(seal(closed), answers: answers)
            if stop { return (completed, true) }
            if checkpoint { try saveCheckpoint(round: round) }
        }
        if let waiting = pending { try finish(waiting) }
        return (completed, false)
    }

    /// Broadcasts the round and trains the clients rank 0 hosts (at P = 1).
    private func open(round: Int) throws -> OpenRound {
        let started = MonotonicClock.now()
        let cpuStarted = probe.cpuSeconds()
        transport.clock.lap()
        let plan = server.schedule.plan(round: round)
        let (bytes, chargedDown) = transport.clock.charge(.communication) { server.prepare(plan) }
        var broadcast = bytes
        try transport.broadcast(&broadcast, root: 0)
        if let host { try host.handle(broadcast: bytes, transport: transport) }
        return OpenRound(plan: plan, broadcastBytes: bytes.count, chargedDown: chargedDown,
                         started: started, cpuStarted: cpuStarted)
    }

    /// Collects, checks and aggregates the round's uploads and the ranks' reports.
    private mutating func close(_ opened: OpenRound) -> ClosedRound {
        let plan = opened.plan
        let outcome = server.collect(plan, transport: transport, placement: placement)
        let reports = RoundMeasurement.collect(round: plan.round, transport: transport,
                                               clientCount: server.schedule.clientCount)
        var record = RoundRecord(plan: plan)
        outcome.fill(&record)
        record.bytesDown = opened.chargedDown.reduce(0, +)
        record.clientBytesDown = opened.chargedDown
        record.bytesBroadcast = opened.broadcastBytes
        totals.add(record, tokensTrained: outcome.tokensTrained)
        return ClosedRound(opened: opened, record: record, reports: reports)
    }

    /// Ends the round's clock: its wall and CPU time and every rank's time split.
    private func seal(_ closed: ClosedRound) -> RoundRecord {
        var record = closed.record
        record.seconds = MonotonicClock.now() - closed.opened.started
        record.serverCPUSeconds = probe.cpuSeconds() - closed.opened.cpuStarted
        RoundMeasurement.fill(&record, server: transport.clock.lap(), serverPeakRSS: probe.peakRSSBytes(),
                              reports: closed.reports)
        return record
    }

    /// Runs a deferred evaluation and reports what waited for it.
    private mutating func finish(_ pending: Pending) throws {
        switch pending {
        case .start(let corpus):
            totals.initialEvalLoss = server.evaluate()
            totals.lastEvalLoss = totals.initialEvalLoss
            announce(corpus, resumedAfterRound: nil)
        case .round(var record):
            let answers = evaluate(into: &record)
            try self.record(record, answers: answers)
        }
    }

    /// Evaluates the global model as it stands into `record`; returns the greedy answers.
    private mutating func evaluate(into record: inout RoundRecord) -> [GeneratedAnswer] {
        let scores = server.evaluateScores()
        scores.fill(&record)
        totals.lastEvalLoss = scores.loss
        return scores.answers
    }

    /// Stores a finished round's row (its answers, and snapshot) and tells the observer.
    private mutating func record(_ record: RoundRecord, answers: [GeneratedAnswer] = []) throws {
        measures.add(record)
        computeShare.add(record)
        try store?.append(record)
        if !answers.isEmpty { try store?.appendAnswers(answers, round: record.round) }
        if settings.snapshots, let block = record.target.block {
            try store?.appendSnapshot(block: block, round: record.round,
                                      values: UnsafeBufferPointer(server.global.parameters.block(block)))
        }
        let elapsed = MonotonicClock.now() - started
        observer?.roundFinished(record, totalRounds: settings.rounds,
                                etaSeconds: elapsed / Double(record.round - firstRound + 1) * Double(settings.rounds - record.round))
    }

    private func announce(_ corpus: FederatedCorpus, resumedAfterRound: Int?) {
        observer?.runStarted(settings: settings, corpus: corpus, ranks: transport.size,
                             evalLoss: totals.lastEvalLoss, resumedAfterRound: resumedAfterRound)
    }

    private func saveCheckpoint(round: Int) throws {
        try store?.saveCheckpoint(parameters: server.currentModel(), state: server.state(round: round, totals: totals))
    }
}
