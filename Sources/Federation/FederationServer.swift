import Corpus
import GPT

/// Rank 0's side of FedCyBGD: it owns the global model, the schedule, the byte accounting,
/// the evaluation and the run store.
public final class FederationServer {
    public let settings: FederationSettings
    public let schedule: CycleSchedule
    public let global: ParameterBuffer
    /// Each client's training tokens: its aggregation weight, checked against what it reports.
    private let sampleCounts: [Int]
    private let evaluator: Evaluation
    /// The round in which each block last changed (0: the initial model).
    private var blockChangedRound: [Int]
    /// For each client, the round of the broadcast it last synchronised from (0: never).
    public private(set) var clientLastSync: [Int]
    private var lastBroadcastRound = 0
    /// Uploads left out of the aggregate in this process, with their reasons.
    public private(set) var rejections: [(round: Int, client: Int, reason: UploadRejection)] = []
    /// Uploads left out of the aggregate over the whole run, including before a resume.
    public private(set) var rejectedCount = 0
    /// The bound on update sizes, learned from the accepted updates so far.
    public private(set) var normGuard: UpdateNormGuard

    /// Starts from `initial`; with `resuming`, from a checkpoint's model and state instead.
    public init(settings: FederationSettings, corpus: FederatedCorpus, initial: ParameterBuffer, resuming state: RunState? = nil) {
        self.settings = settings
        self.schedule = CycleSchedule(settings: settings, clientCount: corpus.clients.count)
        self.global = initial
        self.sampleCounts = corpus.clients.map(\.sampleCount)
        self.evaluator = Evaluation(settings: settings, validation: corpus.validation)
        self.blockChangedRound = Array(repeating: 0, count: settings.blockCount)
        self.clientLastSync = Array(repeating: 0, count: corpus.clients.count)
        self.normGuard = UpdateNormGuard(configuration: settings.updateNormGuard)
        if let state {
            if let restored = try? UpdateNormGuard(configuration: settings.updateNormGuard, state: state.updateNorms) {
                normGuard = restored
            }
            // Clients hold nothing after a restart, so the first broadcast carries the whole
            // model (lastBroadcastRound stays 0); what each *virtual* client is charged for
            // follows the saved synchronisation rounds, exactly as in the uninterrupted run.
            if state.blockChangedRound.count == settings.blockCount { blockChangedRound = state.blockChangedRound }
            if state.clientLastSync.count == corpus.clients.count { clientLastSync = state.clientLastSync }
            rejectedCount = state.rejectedUploads
        }
    }

    /// Encoded size of one block in the download and upload: fp32, plus its 12-byte block header.
    private func encodedBytes(block: Int) -> Int { global.layout.blocks[block].range.count * 4 + 12 }

    private func blocksChanged(since round: Int) -> [Int] {
        (0..<settings.blockCount).filter { blockChangedRound[$0] >= round }
    }

    /// Builds the round's broadcast: header plus every block changed since the previous broadcast
    /// (the whole model the first time), and charges each selected client for what it lacks.
    public func prepare(round: Int) -> (header: RoundHeader, bytes: [UInt8], chargedDown: [Int]) {
        let header = RoundHeader(round: round, block: schedule.block(ofRound: round),
                                 clients: schedule.clients(ofRound: round),
                                 learningRate: settings.learningRate(round: round), finished: false)
        let bytes = Download.encode(header: header, blocks: blocksChanged(since: lastBroadcastRound), parameters: global)
        lastBroadcastRound = round
        var charged: [Int] = []
        for client in header.clients {
            charged.append(blocksChanged(since: clientLastSync[client]).reduce(0) { $0 + encodedBytes(block: $1) })
            clientLastSync[client] = round
        }
        return (header, bytes, charged)
    }

    /// What the server made of one round's uploads.
    public struct RoundOutcome {
        /// Sample-weighted mean losses of the accepted clients: over all local steps, first step, last step.
        public var loss: Float = .nan
        public var lossBefore: Float = .nan
        public var lossAfter: Float = .nan
        /// L2 norm of the change installed in the block.
        public var updateNorm: Float = 0
        public var bytesUp = 0
        /// Bytes received from each selected client, in header order, whether accepted or not.
        public var clientBytesUp: [Int] = []
        public var accepted = 0
        public var rejected = 0
        /// Training tokens the accepted clients processed.
        public var tokensTrained = 0
    }

    /// Receives, checks and aggregates the round's uploads, then installs the block.
    public func collect(header: RoundHeader, transport: Transport, placement: ClientPlacement) -> RoundOutcome {
        let expected = global.layout.blocks[header.block].range.count * 4
        var accepted: [ReceivedUpload] = []
        var outcome = RoundOutcome()
        for client in header.clients {
            do {
                let upload = try receive(client: client, from: placement.host(of: client), header: header,
                                         expectedBytes: expected, transport: transport)
                outcome.bytesUp += upload.bytes
                outcome.clientBytesUp.append(upload.bytes)
                accepted.append(upload)
            } catch {
                outcome.clientBytesUp.append((error as? UploadRejection)?.bytesReceived ?? 0)
                let reason = error as? UploadRejection ?? .transport("\(error)")
                rejections.append((header.round, client, reason))
                outcome.rejected += 1
            }
        }
        accepted = screenUpdateNorms(accepted, header: header, outcome: &outcome)
        rejectedCount += outcome.rejected
        outcome.accepted = accepted.count
        outcome.tokensTrained = accepted.reduce(0) {
            $0 + settings.localSteps(forClientTokens: $1.header.sampleCount) * settings.batch * settings.sequence
        }
        guard !accepted.isEmpty else { return outcome }
        let block = global.block(header.block)
        let before = Array(block)
        Aggregation.weightedMean(accepted, into: block)
        blockChangedRound[header.block] = header.round
        outcome.updateNorm = Aggregation.distance(before, block)
        func weighted(_ value: (UploadHeader) -> Float) -> Float {
            let total = accepted.reduce(0.0) { $0 + Double($1.header.sampleCount) }
            return Float(accepted.reduce(0.0) { $0 + Double(value($1.header)) * Double($1.header.sampleCount) } / total)
        }
        outcome.loss = weighted(\.loss)
        outcome.lossBefore = weighted(\.firstLoss)
        outcome.lossAfter = weighted(\.lastLoss)
        return outcome
    }

    /// Leaves out uploads whose update (RMS of the change to the block) the norm guard refuses.
    private func screenUpdateNorms(_ uploads: [ReceivedUpload], header: RoundHeader,
                                   outcome: inout RoundOutcome) -> [ReceivedUpload] {
        let current = UnsafeBufferPointer(global.block(header.block))
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
            rejections.append((header.round, upload.header.client, .updateTooLarge(norm: norm, limit: limit ?? .nan)))
            outcome.rejected += 1
        }
        return kept
    }

    private func receive(client: Int, from source: Int, header: RoundHeader, expectedBytes: Int,
                         transport: Transport) throws -> ReceivedUpload {
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
        try UploadValidation.check(header: uploadHeader, round: header.round, block: header.block,
                                   client: client, samples: sampleCounts[client], expectedBytes: expectedBytes)
        let values = try UploadValidation.decodeBody(body, expectedBytes: expectedBytes)
        return ReceivedUpload(header: uploadHeader, values: values, bytes: headerBytes.count + body.count)
    }

    /// Mean held-out loss of the global model.
    public func evaluate() -> Float { evaluator.loss(of: global) }

    /// What a checkpoint must hold besides the parameters.
    public func state(round: Int, totals: RunTotals) -> RunState {
        RunState(round: round, cycle: round == 0 ? 0 : schedule.cycle(ofRound: round),
                 blockOrder: schedule.order(ofCycle: max(schedule.cycle(ofRound: max(round, 1)), 1)), clientLastSync: clientLastSync,
                 blockChangedRound: blockChangedRound, totalBytesDown: totals.bytesDown, totalBytesUp: totals.bytesUp,
                 totalBytesBroadcast: totals.bytesBroadcast, tokensTrained: totals.tokensTrained,
                 rejectedUploads: rejectedCount, initialEvalLoss: totals.initialEvalLoss, lastEvalLoss: totals.lastEvalLoss,
                 updateNorms: normGuard.state)
    }
}

/// Running totals of a run's cost.
public struct RunTotals: Sendable, Equatable {
    public var bytesDown = 0
    public var bytesUp = 0
    public var bytesBroadcast = 0
    public var tokensTrained = 0
    public var initialEvalLoss: Float = .nan
    public var lastEvalLoss: Float = .nan
    public init() {}

    /// The totals a checkpoint saved.
    public init(_ state: RunState) {
        bytesDown = state.totalBytesDown; bytesUp = state.totalBytesUp; bytesBroadcast = state.totalBytesBroadcast
        tokensTrained = state.tokensTrained; initialEvalLoss = state.initialEvalLoss; lastEvalLoss = state.lastEvalLoss
    }
}

/// Held-out evaluation on fixed batches of the validation text.
struct Evaluation {
    private let batches: [(inputs: [Int32], targets: [Int32])]
    private let evaluator: GPTEvaluator

    init(settings: FederationSettings, validation: [TokenID]) {
        batches = BatchSampler.validationBatches(tokens: validation, batch: settings.batch,
                                                 sequence: settings.sequence, maxBatches: settings.evalBatches)
        evaluator = GPTEvaluator(config: settings.model, batch: settings.batch, sequence: settings.sequence)
    }

    func loss(of parameters: ParameterBuffer) -> Float {
        guard !batches.isEmpty else { return .nan }
        let total = batches.reduce(0.0) {
            $0 + Double(evaluator.loss(parameters: parameters, inputs: $1.inputs, targets: $1.targets))
        }
        return Float(total / Double(batches.count))
    }
}

/// Sample-weighted averaging of client uploads, summed in client order so the result does not
/// depend on how many ranks the job runs on.
public enum Aggregation {
    public static func weightedMean(_ uploads: [ReceivedUpload], into target: UnsafeMutableBufferPointer<Float>) {
        if uploads.count == 1 {
            // One client: install its values exactly, with no rounding through a weight.
            uploads[0].values.withUnsafeBufferPointer { _ = target.update(fromContentsOf: $0) }
            return
        }
        let total = uploads.reduce(0.0) { $0 + Double($1.header.sampleCount) }
        var sum = [Double](repeating: 0, count: target.count)
        for upload in uploads {
            let weight = Double(upload.header.sampleCount) / total
            upload.values.withUnsafeBufferPointer { values in
                for i in 0..<sum.count { sum[i] += weight * Double(values[i]) }
            }
        }
        for i in 0..<target.count { target[i] = Float(sum[i]) }
    }

    /// Euclidean distance between a block before and after an update.
    public static func distance(_ before: [Float], _ after: UnsafeMutableBufferPointer<Float>) -> Float {
        var sum = 0.0
        for i in 0..<before.count {
            let d = Double(after[i]) - Double(before[i])
            sum += d * d
        }
        return Float(sum.squareRoot())
    }
}
