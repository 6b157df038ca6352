import Corpus
import GPT

/// The client side of a rank: it keeps a view of the global model current from the
/// broadcasts, and trains the selected clients it hosts.
public final class ClientHost {
    public let settings: FederationSettings
    private let rank: Int
    private let placement: ClientPlacement
    /// Turns each broadcast header into the round's plan.
    private let schedule: CycleSchedule
    private let shards: [Int: ClientShard]
    /// This rank's copy of the global model, updated from every broadcast. Frozen units may be
    /// lossy copies (the download codec); the units a round trains always arrive exact.
    public let view: FederatedModel
    /// Charged with decoding each broadcast, as communication (`RankTimes`).
    var clock = RankClock()

    public init(settings: FederationSettings, corpus: FederatedCorpus, rank: Int, placement: ClientPlacement,
                view: FederatedModel) {
        self.settings = settings
        self.rank = rank
        self.placement = placement
        self.schedule = CycleSchedule(settings: settings, clientCount: corpus.clients.count)
        var mine: [Int: ClientShard] = [:]
        for shard in corpus.clients where placement.host(of: shard.client) == rank { mine[shard.client] = shard }
        self.shards = mine
        self.view = view
    }

    /// Applies a broadcast to the view, then trains and uploads every selected client hosted here.
    @discardableResult
    public func handle(broadcast bytes: [UInt8], transport: Transport) throws -> Download {
        let download = try apply(broadcast: bytes)
        try train(download.header, transport: transport)
        return download
    }

    /// Decodes a broadcast into the view.
    public func apply(broadcast bytes: [UInt8]) throws -> Download {
        try clock.charge(.communication) { try Download.apply(bytes, to: view) }
    }

    /// Trains and uploads every client of the round that is hosted here.
    public func train(_ header: RoundHeader, transport: Transport) throws {
        guard !header.finished else { return }
        let plan = schedule.plan(for: header)
        let mine = plan.clients.filter { placement.host(of: $0) == rank }
        for (index, client) in mine.enumerated() {
            guard let shard = shards[client] else { throw WireError.badValue("client \(client) is not hosted on rank \(rank)") }
            try visit(shard: shard, plan: plan, transport: transport, restore: index < mine.count - 1)
        }
    }

    /// One client visit: E local AdamW steps on the round's units with fresh optimizer state,
    /// then the upload. With `restore`, the units are put back afterwards, so the next client of
    /// the round starts from the same point. The last client of a rank leaves its trained values
    /// in the view, sparing a copy of the trained units (for FedAvg, of the model): the server
    /// counts trained units as stale in the views and sends them again when next needed.
    private func visit(shard: ClientShard, plan: RoundPlan, transport: Transport, restore: Bool) throws {
        let units = plan.trainedUnits
        let region = UploadCoding.region(units, of: view)
        // A delta upload needs the starting values as well.
        let start = restore || settings.uploadEncoding != .fp32 ? Array(region) : []
        defer { if restore { start.withUnsafeBufferPointer { _ = region.update(fromContentsOf: $0) } } }

        let losses = LocalTraining.run(model: view, plan: plan, shard: shard, settings: settings)
        let rows = UploadCoding.rows(units, of: view)
        let fault = settings.faultyClients[shard.client]
        let upload = UploadHeader(round: plan.round, client: shard.client, target: plan.target,
                                  sampleCount: shard.sampleCount, loss: losses.mean, firstLoss: losses.first,
                                  lastLoss: losses.last, bodyBytes: settings.uploadEncoding.codec.encodedSize(rows))
        try upload.encoded().withUnsafeBytes {
            try transport.send($0, to: 0, tag: UploadTag.header(client: shard.client))
        }
        if fault == nil, settings.uploadEncoding == .fp32 {
            // The common case goes straight from the trained buffer, with no copy.
            try transport.send(UnsafeRawBufferPointer(region), to: 0, tag: UploadTag.body(client: shard.client))
            return
        }
        let trained = fault.map { $0.corrupt(values: Array(region)) } ?? Array(region)
        var body = trained.withUnsafeBufferPointer {
            UploadCoding.encode(trained: $0, start: start, rows: rows, encoding: settings.uploadEncoding)
        }
        if let fault { body = fault.corrupt(body: body) }
        try body.withUnsafeBytes { try transport.send($0, to: 0, tag: UploadTag.body(client: shard.client)) }
    }
}
