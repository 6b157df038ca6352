import Corpus
import GPT

/// Rank 0's side of a run: it owns the global model, the schedule, the byte accounting, the
/// upload checks and the evaluation. What a round trains follows from `settings.algorithm`.
public final class FederationServer {
    public let settings: FederationSettings
    public let schedule: CycleSchedule
    public let global: FederatedModel
    /// Each client's training tokens: its aggregation weight, checked against what it reports.
    private let sampleCounts: [Int]
    private let evaluator: Evaluation
    /// Delta sync and the codecs: what to broadcast and what each client is charged.
    private var downloads: DownloadPlanner
    /// For each client, the round in which it was last selected (0: never).
    public private(set) var clientLastSync: [Int]
    /// Uploads left out of the aggregate in this process, with their reasons.
    public private(set) var rejections: [(round: Int, client: Int, reason: UploadRejection)] = []
    /// Uploads left out of the aggregate over the whole run, including before a resume.
    public private(set) var rejectedCount = 0
    /// The bound on update sizes, learned from the accepted updates so far.
    public private(set) var normGuard: UpdateNormGuard

    /// Starts from `initial`; with `resuming`, from a checkpoint's model and state instead.
    public init(settings: FederationSettings, corpus: FederatedCorpus, initial: FederatedModel, resuming state: RunState? = nil) {
        self.settings = settings
        self.schedule = CycleSchedule(settings: settings, clientCount: corpus.clients.count)
        self.global = initial
        self.sampleCounts = corpus.clients.map(\.sampleCount)
        self.evaluator = Evaluation(settings: settings, validation: corpus.validation)
        let clients = corpus.clients.count, units = initial.unitCount
        self.downloads = DownloadPlanner(units: units, clients: clients, frozenEncoding: settings.downloadEncoding)
        self.clientLastSync = Array(repeating: 0, count: clients)
        self.normGuard = UpdateNormGuard(configuration: settings.updateNormGuard)
        guard let state else { return }
        if let restored = try? UpdateNormGuard(configuration: settings.updateNormGuard, state: state.updateNorms) {
            normGuard = restored
        }
        if state.clientLastSync.count == clients { clientLastSync = state.clientLastSync }
        rejectedCount = state.rejectedUploads
        let saved = state.downloads ?? Self.savedDownloads(fromSyncRounds: clientLastSync, changed: state.blockChangedRound)
        downloads = DownloadPlanner(units: units, clients: clients, frozenEncoding: settings.downloadEncoding, saved: saved)
        if let adapters = initial.adapters, state.adapters.count == adapters.count {
            _ = adapters.update(fromContentsOf: state.adapters)
        }
    }

    /// Delta-sync state for a checkpoint from before codecs: every copy was exact fp32, and a
    /// client synchronised in round s holds each unit last changed before s.
    private static func savedDownloads(fromSyncRounds sync: [Int], changed: [Int]) -> DownloadPlanner.SavedState {
        DownloadPlanner.SavedState(
            changedRound: changed,
            clientVersions: sync.map { s in changed.map { s > 0 && $0 < s ? $0 : -1 } },
            clientExact: sync.map { _ in changed.map { _ in true } })
    }

    /// Builds the round's broadcast (header plus the units the views need refreshed) and charges
    /// each selected client for what it lacks.
    public func prepare(round: Int) -> (header: RoundHeader, bytes: [UInt8], chargedDown: [Int]) {
        let block = settings.headerBlock(round: round, schedule: schedule)
        let header = RoundHeader(round: round, block: block, clients: schedule.clients(ofRound: round),
                                 learningRate: settings.learningRate(round: round), finished: false)
        let model = global
        let plan = downloads.plan(needed: settings.neededUnits(block: block, model: model),
                                  trained: Set(settings.trainedUnits(block: block, model: model)),
                                  selected: header.clients) {
            Download.encodedSize(unit: $0, of: model, as: $1)
        }
        for client in header.clients { clientLastSync[client] = round }
        return (header, Download.encode(header: header, units: plan.broadcast, model: model), plan.charges)
    }

    /// What the server made of one round's uploads.
    public struct RoundOutcome {
        /// Sample-weighted mean losses of the accepted clients: over all local steps, first step, last step.
        public var loss: Float = .nan
        public var lossBefore: Float = .nan
        public var lossAfter: Float = .nan
        /// L2 norm of the change installed in the trained units.
        public var updateNorm: Float = 0
        /// Bytes of the accepted uploads (header plus body).
        public var bytesUp = 0
        /// Bytes received from each selected client, in header order, whether accepted or not.
        public var clientBytesUp: [Int] = []
        public var accepted = 0
        public var rejected = 0
        /// Training tokens the accepted clients processed.
        public var tokensTrained = 0
    }

    /// Receives, checks and aggregates the round's uploads, then installs the trained units.
    public func collect(header: RoundHeader, transport: Transport, placement: ClientPlacement) -> RoundOutcome {
        let units = settings.trainedUnits(block: header.block, model: global)
        let region = UploadCoding.region(units, of: global)
        let rows = UploadCoding.rows(units, of: global)
        let expected = settings.uploadEncoding.codec.encodedSize(rows)
        var accepted: [ReceivedUpload] = []
        var outcome = RoundOutcome()
        for client in header.clients {
            do {
                let upload = try receive(client: client, from: placement.host(of: client), header: header,
                                         expectedBytes: expected, transport: transport) { body in
                    try UploadCoding.decode(body, current: UnsafeBufferPointer(region), rows: rows,
                                            encoding: self.settings.uploadEncoding)
                }
                outcome.clientBytesUp.append(upload.bytes)
                accepted.append(upload)
            } catch let refused as RefusedUpload {
                outcome.clientBytesUp.append(refused.bytes)
                rejections.append((header.round, client, refused.reason))
                outcome.rejected += 1
            } catch {
                outcome.clientBytesUp.append((error as? UploadRejection)?.bytesReceived ?? 0)
                rejections.append((header.round, client, error as? UploadRejection ?? .transport("\(error)")))
                outcome.rejected += 1
            }
        }
        accepted = screenUpdateNorms(accepted, current: UnsafeBufferPointer(region), round: header.round, outcome: &outcome)
        outcome.bytesUp = accepted.reduce(0) { $0 + $1.bytes }
        rejectedCount += outcome.rejected
        outcome.accepted = accepted.count
        outcome.tokensTrained = accepted.reduce(0) {
            $0 + settings.localSteps(forClientTokens: $1.header.sampleCount) * settings.batch * settings.sequence
        }
        guard !accepted.isEmpty else { return outcome }
        let before = Array(region)
        Aggregation.weightedMean(accepted, into: region)
        for unit in units { downloads.changed(unit: unit, round: header.round) }
        outcome.updateNorm = Aggregation.distance(before, region)
        func weighted(_ value: (UploadHeader) -> Float) -> Float {
            let total = accepted.reduce(0.0) { $0 + Double($1.header.sampleCount) }
            return Float(accepted.reduce(0.0) { $0 + Double(value($1.header)) * Double($1.header.sampleCount) } / total)
        }
        outcome.loss = weighted(\.loss)
        outcome.lossBefore = weighted(\.firstLoss)
        outcome.lossAfter = weighted(\.lastLoss)
        return outcome
    }

    /// Leaves out uploads whose update (RMS of the change to the trained units) the norm guard refuses.
    private func screenUpdateNorms(_ uploads: [ReceivedUpload], current: UnsafeBufferPointer<Float>, round: Int,
                                   outcome: inout RoundOutcome) -> [ReceivedUpload] {
        let norms = uploads.map { upload in
            upload.values.withUnsafeBufferPointer { values in
                var sum = 0.0
                for i in 0..<values.count {
                    let d = Double(values[i]) - Double(current[i])
                    sum += d * d
                }
                return values.isEmpty ? 0 : (sum / Double(values.count)).squareRoot()
            }
        }
        let limit = normGuard.currentLimit
        let verdicts = normGuard.screen(norms: norms)
        var kept: [ReceivedUpload] = []
        for (upload, (norm, accepted)) in zip(uploads, zip(norms, verdicts)) {
            if accepted { kept.append(upload); continue }
            rejections.append((round, upload.header.client, .updateTooLarge(norm: norm, limit: limit ?? .nan)))
            outcome.rejected += 1
        }
        return kept
    }

    private func receive(client: Int, from source: Int, header: RoundHeader, expectedBytes: Int, transport: Transport,
                         decode: ([UInt8]) throws -> [Float]) throws -> ReceivedUpload {
        let headerBytes = try transport.receive(from: source, tag: UploadTag.header(client: client),
                                                maxBytes: UploadHeader.encodedSize)
        let uploadHeader = try UploadHeader.decode(headerBytes)
        // The body is always drained, even from a bad header, so the next round's messages line up.
        let body: [UInt8]
        do {
            body = try transport.receive(from: source, tag: UploadTag.body(client: client), maxBytes: expectedBytes)
        } catch let error as TransportError {
            throw UploadRejection.transport("\(error)")
        }
        let bytes = headerBytes.count + body.count
        do {
            try UploadValidation.check(header: uploadHeader, round: header.round, block: header.block,
                                       client: client, samples: sampleCounts[client], expectedBytes: expectedBytes)
            return ReceivedUpload(header: uploadHeader, values: try decode(body), bytes: bytes)
        } catch let reason as UploadRejection {
            throw RefusedUpload(reason: reason, bytes: bytes)
        }
    }

    /// Where fedlora's adapters are merged for evaluation and checkpoints.
    private lazy var mergeScratch = ParameterBuffer(layout: global.parameters.layout)

    /// The model as users see it: the parameters, with fedlora's adapters merged in.
    public func currentModel() -> ParameterBuffer { global.merged(settings: settings, scratch: mergeScratch) }

    /// Mean held-out loss of the global model.
    public func evaluate() -> Float { evaluator.loss(of: currentModel()) }

    /// What a checkpoint must hold besides the parameters.
    public func state(round: Int, totals: RunTotals) -> RunState {
        let saved = downloads.saved
        var state = RunState(
            round: round, cycle: round == 0 ? 0 : schedule.cycle(ofRound: round),
            blockOrder: schedule.order(ofCycle: max(schedule.cycle(ofRound: max(round, 1)), 1)),
            clientLastSync: clientLastSync, blockChangedRound: Array(saved.changedRound.prefix(global.blockCount)),
            totalBytesDown: totals.bytesDown, totalBytesUp: totals.bytesUp,
            totalBytesBroadcast: totals.bytesBroadcast, tokensTrained: totals.tokensTrained,
            rejectedUploads: rejectedCount, initialEvalLoss: totals.initialEvalLoss, lastEvalLoss: totals.lastEvalLoss,
            updateNorms: normGuard.state)
        state.downloads = saved
        state.adapters = global.adapters.map { Array($0) } ?? []
        return state
    }
}
