import Corpus
import GPT

/// The client side of a rank: it keeps a view of the global model current from the
/// broadcasts, and trains the selected clients it hosts.
public final class ClientHost {
    public let settings: FederationSettings
    private let rank: Int
    private let placement: ClientPlacement
    private let shards: [Int: ClientShard]
    /// This rank's copy of the global model, updated from every broadcast.
    public let view: ParameterBuffer
    /// Where the active block is saved while a client trains it, so the next client starts from the same point.
    private var savedBlock: [Float] = []
    /// Charged with decoding each broadcast, as communication (`RankTimes`).
    var clock = RankClock()

    public init(settings: FederationSettings, corpus: FederatedCorpus, rank: Int, placement: ClientPlacement) {
        self.settings = settings
        self.rank = rank
        self.placement = placement
        var mine: [Int: ClientShard] = [:]
        for shard in corpus.clients where placement.host(of: shard.client) == rank { mine[shard.client] = shard }
        self.shards = mine
        self.view = ParameterBuffer(layout: ParameterLayout(config: settings.model))
    }

    /// Applies a broadcast to the view, then trains and uploads every selected client hosted here.
    @discardableResult
    public func handle(broadcast bytes: [UInt8], transport: Transport) throws -> Download {
        let download = try clock.charge(.communication) { try Download.apply(bytes, to: view) }
        let header = download.header
        guard !header.finished else { return download }
        for client in header.clients where placement.host(of: client) == rank {
            guard let shard = shards[client] else { throw WireError.badValue("client \(client) is not hosted on rank \(rank)") }
            try visit(shard: shard, header: header, transport: transport)
        }
        return download
    }

    /// One client visit: E local AdamW steps on the round's block with fresh optimizer state, then the upload.
    private func visit(shard: ClientShard, header: RoundHeader, transport: Transport) throws {
        let block = view.block(header.block)
        savedBlock = Array(block)
        defer { savedBlock.withUnsafeBufferPointer { _ = block.update(fromContentsOf: $0) } }

        let losses = LocalTraining.run(
            parameters: view, block: header.block, tokens: shard.tokens, client: shard.client,
            round: header.round, learningRate: header.learningRate, settings: settings)
        let upload = UploadHeader(round: header.round, client: shard.client, block: header.block,
                                  sampleCount: shard.sampleCount, loss: losses.mean, firstLoss: losses.first,
                                  lastLoss: losses.last, bodyBytes: block.count * 4)
        try upload.encoded().withUnsafeBytes {
            try transport.send($0, to: 0, tag: UploadTag.header(client: shard.client))
        }
        if let fault = settings.faultyClients[shard.client] {
            try fault.corrupt(block).withUnsafeBytes {
                try transport.send($0, to: 0, tag: UploadTag.body(client: shard.client))
            }
            return
        }
        try transport.send(UnsafeRawBufferPointer(block), to: 0, tag: UploadTag.body(client: shard.client))
    }
}

/// A client's local work, apart from any transport, so tests and baselines can call it directly.
public enum LocalTraining {
    /// Trains `block` of `parameters` in place for `settings.localSteps` AdamW steps with fresh
    /// optimizer state, on batches drawn from (seed, round, client, step); returns the mean loss
    /// over the steps and the losses of the first and last step.
    public static func run(parameters: ParameterBuffer, block: Int, tokens: [TokenID], client: Int, round: Int,
                           learningRate: Float, settings: FederationSettings) -> (mean: Float, first: Float, last: Float) {
        let trainer = GPTTrainer(config: settings.model, batch: settings.batch, sequence: settings.sequence,
                                 trainableBlocks: [block])
        var optimizer = settings.optimizer
        optimizer.learningRate = learningRate
        var losses: [Float] = []
        for step in 0..<settings.localSteps(forClientTokens: tokens.count) {
            let batch = BatchSampler.trainingBatch(
                tokens: tokens, batch: settings.batch, sequence: settings.sequence,
                seed: settings.seed, round: round, client: client, step: step)
            losses.append(trainer.step(parameters: parameters, inputs: batch.inputs, targets: batch.targets,
                                       settings: optimizer))
        }
        let mean = losses.reduce(0.0) { $0 + Double($1) } / Double(max(losses.count, 1))
        return (Float(mean), losses.first ?? .nan, losses.last ?? .nan)
    }
}
