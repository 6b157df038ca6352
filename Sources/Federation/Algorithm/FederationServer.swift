import Corpus
import GPT

/// Rank 0's side of a round: it owns the global model, the schedule, delta sync, the upload
/// checks and the evaluation. What a round trains comes from its `RoundPlan`.
public final class FederationServer {
    public let settings: FederationSettings
    public let schedule: CycleSchedule
    public let global: FederatedModel
    /// Each client's training tokens: its aggregation weight, checked against what it reports.
    private let sampleCounts: [Int]
    /// Each client's data, to count the tokens a visit trains on (`LocalTraining.countedTokens`).
    private let shards: [ClientShard]
    private let evaluator: Evaluation
    /// Delta sync and the codecs: what to broadcast and what each client is charged.
    private var downloads: DownloadPlanner
    /// Uploads left out of the aggregate in this process, with their reasons.
    public private(set) var rejections: [(round: Int, client: Int, reason: UploadRejection)] = []
    /// The bound on update sizes, learned from the accepted updates so far.
    public private(set) var normGuard: UpdateNormGuard

    /// Starts from `initial`; with `resuming`, from a checkpoint's model and state instead.
    public init(settings: FederationSettings, corpus: FederatedCorpus, initial: FederatedModel, resuming state: RunState? = nil) {
        self.settings = settings
        self.schedule = CycleSchedule(settings: settings, clientCount: corpus.clients.count)
        self.global = initial
        self.sampleCounts = corpus.clients.map(\.sampleCount)
        self.shards = corpus.clients
        self.evaluator = Evaluation(settings: settings, corpus: corpus)
        let clients = corpus.clients.count, units = initial.unitCount
        self.downloads = DownloadPlanner(units: units, clients: clients, frozenEncoding: settings.downloadEncoding)
        self.normGuard = UpdateNormGuard(configuration: settings.updateNormGuard)
        guard let state else { return }
        if let restored = try? UpdateNormGuard(configuration: settings.updateNormGuard, state: state.updateNorms) {
            normGuard = restored
        }
        downloads = DownloadPlanner(units: units, clients: clients, frozenEncoding: settings.downloadEncoding,
                                    state: state.downloads)
        if let adapters = initial.adapters, state.adapters.count == adapters.count {
            _ = adapters.update(fromContentsOf: state.adapters)
        }
    }

    /// Builds the round's broadcast (header plus the units the views need refreshed) and charges
    /// each selected client for what it lacks.
    public func prepare(_ plan: RoundPlan) -> (bytes: [UInt8], chargedDown: [Int]) {
        let model = global
        let sync = downloads.plan(needed: plan.neededUnits, trained: Set(plan.trainedUnits), selected: plan.clients) {
            Download.encodedSize(unit: $0, of: model, as: $1)
        }
        return (Download.encode(header: plan.header, units: sync.broadcast, model: model), sync.charges)
    }

    /// Receives, checks and aggregates the round's uploads, then installs the trained units.
    public func collect(_ plan: RoundPlan, transport: Transport, placement: ClientPlacement) -> RoundOutcome {
        let region = UploadCoding.region(plan.trainedUnits, of: global)
        let receiver = UploadReceiver(plan: plan, encoding: settings.uploadEncoding, current: UnsafeBufferPointer(region),
                                      rows: UploadCoding.rows(plan.trainedUnits, of: global), sampleCounts: sampleCounts)
        var outcome = RoundOutcome()
        var accepted: [ReceivedUpload] = []
        for client in plan.clients {
            do {
                let upload = try receiver.receive(client: client, from: placement.host(of: client), transport: transport)
                outcome.clientBytesUp.append(upload.bytes)
                accepted.append(upload)
            } catch let refused as RefusedUpload {
                outcome.clientBytesUp.append(refused.bytes)
                reject(client, in: plan, refused.reason, &outcome)
            } catch {
                outcome.clientBytesUp.append((error as? UploadRejection)?.bytesReceived ?? 0)
                reject(client, in: plan, error as? UploadRejection ?? .transport("\(error)"), &outcome)
            }
        }
        accepted = screenUpdateNorms(accepted, current: UnsafeBufferPointer(region), plan: plan, outcome: &outcome)
        install(accepted, into: region, plan: plan, outcome: &outcome)
        return outcome
    }

    private func reject(_ client: Int, in plan: RoundPlan, _ reason: UploadRejection, _ outcome: inout RoundOutcome) {
        rejections.append((plan.round, client, reason))
        outcome.rejected += 1
    }

    /// Takes the accepted uploads' sample-weighted mean into `region` and their losses into `outcome`.
    private func install(_ accepted: [ReceivedUpload], into region: UnsafeMutableBufferPointer<Float>, plan: RoundPlan,
                         outcome: inout RoundOutcome) {
        outcome.bytesUp = accepted.reduce(0) { $0 + $1.bytes }
        outcome.accepted = accepted.count
        outcome.tokensTrained = accepted.reduce(0) {
            $0 + LocalTraining.countedTokens(shards[$1.header.client], round: plan.round, settings: settings)
        }
        guard !accepted.isEmpty else { return }
        let before = Array(region)
        Aggregation.weightedMean(accepted, into: region)
        for unit in plan.trainedUnits { downloads.changed(unit: unit, round: plan.round) }
        let size = before.withUnsafeBufferPointer { UpdateSize(from: $0, to: UnsafeBufferPointer(region)) }
        outcome.updateL2Distance = Float(size.l2Distance)
        outcome.loss = Aggregation.weightedLoss(accepted, \.loss)
        outcome.lossBefore = Aggregation.weightedLoss(accepted, \.firstLoss)
        outcome.lossAfter = Aggregation.weightedLoss(accepted, \.lastLoss)
    }

    /// Leaves out uploads whose update RMS (`UpdateSize.rms` of the change to the trained units)
    /// the norm guard refuses.
    private func screenUpdateNorms(_ uploads: [ReceivedUpload], current: UnsafeBufferPointer<Float>, plan: RoundPlan,
                                   outcome: inout RoundOutcome) -> [ReceivedUpload] {
        let updateRMS = uploads.map { upload in
            upload.values.withUnsafeBufferPointer { UpdateSize(from: current, to: $0).rms }
        }
        let limit = normGuard.currentLimit
        let verdicts = normGuard.screen(norms: updateRMS)
        var kept: [ReceivedUpload] = []
        for (upload, (rms, accepted)) in zip(uploads, zip(updateRMS, verdicts)) {
            if accepted { kept.append(upload); continue }
            reject(upload.header.client, in: plan, .updateTooLarge(rms: rms, limit: limit ?? .nan), &outcome)
        }
        return kept
    }

    /// Where fedlora's adapters are merged for evaluation and checkpoints.
    private lazy var mergeScratch = ParameterBuffer(layout: global.parameters.layout)

    /// The model as users see it: the parameters, with fedlora's adapters merged in.
    public func currentModel() -> ParameterBuffer { global.merged(settings: settings, scratch: mergeScratch) }

    /// Mean held-out loss of the global model.
    public func evaluate() -> Float { evaluator.scores(of: currentModel(), answering: false).loss }

    /// The global model's scores on the validation split (plain text: the loss only).
    public func evaluateScores() -> EvaluationScores { evaluator.scores(of: currentModel()) }

    /// Per task, the counted validation targets the evaluation batches hold (empty for plain text).
    public var validationTaskTokens: [Int] { evaluator.validationTaskTokens }

    /// The global model's scores on the test split; nil without one (plain text).
    public func evaluateTest() -> EvaluationScores? { evaluator.testScores(of: currentModel()) }

    /// What a checkpoint after `round` must hold besides the parameters.
    public func state(round: Int, totals: RunTotals) -> RunState {
        RunState(schedule: schedule.state(afterRound: round), totals: totals, updateNorms: normGuard.state,
                 downloads: downloads.state, adapters: global.adapters.map { Array($0) } ?? [])
    }
}
