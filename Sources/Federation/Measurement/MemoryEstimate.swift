import Foundation
import GPT

/// Each rank's peak memory, estimated from the job before anything is allocated, so a job that
/// cannot fit is refused in one line instead of failing (or swapping) after minutes of set-up.
///
/// Each term comes from the part that allocates it (in Double, so absurd shapes cannot overflow):
/// - every rank: a fixed cost (MPI, OpenBLAS, the Swift runtime: `fixedBytes`, measured) and
///   the corpus (its 4-byte tokens);
/// - sizes of what is held, sent and trained: the run's units (`ModelUnits`), what a round
///   visiting each unit trains (`Algorithm.target`), and the codecs' encoded sizes (`BlockCodec`);
/// - a client visit: the trainer's activation plan (`ActivationMemory.trainer` for a `GPTTrainer`,
///   `ActivationMemory.loraTrainer` for fedlora's `LoRATrainer`), gradients and two AdamW moments
///   of what it trains, plus the copies the upload codec and several clients per rank need;
/// - the server rank: the global model, the encoded broadcast, the received uploads (pieces,
///   joined body, decoded values), the pre-aggregation copy and, for k > 1, a Double sum, the
///   evaluator's activations and validation batches, and fedlora's merged model.
/// With one rank the process is server and client host at once, and holds both.
public struct MemoryEstimate {
    /// What every process costs before the model: the MPI library and its shared-memory
    /// segments, OpenBLAS's buffers, the Swift runtime and Foundation (measured on the tiny job
    /// of the tests: 60 MiB peak RSS per rank with the 2.6 MB fortunes corpus).
    public static let fixedBytes = 50.0 * 1_048_576

    public let settings: FederationSettings
    /// Tokens of the corpus (4 bytes each once loaded).
    public let corpusTokens: Double
    /// OpenBLAS threads per rank (the attention scratch has one slot per thread, at least 2).
    public let threads: Int
    private let units: ModelUnits
    private let layout: ParameterLayout
    /// Bytes of each unit of the model as the download codec encodes it.
    private let downloadBytes: [Double]

    public init(settings: FederationSettings, corpusTokens: Double, threads: Int) {
        self.settings = settings
        self.corpusTokens = corpusTokens
        self.threads = threads
        units = ModelUnits(settings: settings)
        layout = ParameterLayout(config: settings.model)
        // One pass over the tensors: a layout of 100,000 layers is sized at once.
        let byBlock = Dictionary(grouping: layout.tensors, by: \.block)
        let codec = settings.downloadEncoding.codec
        downloadBytes = (0..<units.parameterUnitCount).map { [units, layout] unit in
            let rows = units.shard(ofUnit: unit) != nil ? units.rows(unit, of: layout)
                : RowLayout(tensors: byBlock[units.block(ofUnit: unit)] ?? [])
            return Double(codec.encodedSize(rows))
        }
    }

    /// One part of an estimate, for `--dry-run`.
    public struct Part {
        public let name: String
        public let bytes: Double
    }

    // MARK: sizes in floats

    private var model: GPTConfig { settings.model }
    private var rows: Double { Double(settings.batch) * Double(settings.sequence) }
    public var parameters: Double { Double(layout.parameterCount) }
    private var adapterCount: Double { LoRALayout.parameterCount(model: model, rank: settings.lora.rank) }

    private func floats(ofUnit unit: Int) -> Double {
        unit == units.adapterUnit ? adapterCount : Double(units.ranges[unit].count)
    }

    /// The visits whose cost is largest: the lowest blocks of the block set (they keep every
    /// layer's activations), the largest and the last; each unit of them as the target a round
    /// visiting it trains. A few, not every block, so that an absurd layer count is sized at once.
    private var candidateVisits: [RoundTarget] {
        let l = model.layers
        let valid = settings.blockSet.blocks(layers: l)
        let picked = (settings.blockSet == .all ? [0, 1, 2, l, l + 1] : [1, 2, l]).filter(valid.contains)
        let targets = Set(picked).sorted().flatMap { units.units(ofBlock: $0) }
            .map { settings.algorithm.target(visiting: units.target(ofUnit: $0)) }
        return targets.reduce(into: [RoundTarget]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Floats a visit to `target` trains: what it uploads.
    private func trainedFloats(_ target: RoundTarget) -> Double {
        units.units(of: target).reduce(0) { $0 + floats(ofUnit: $1) }
    }

    /// The largest unit set a round trains (what an upload carries).
    private var trainedUnit: Double { candidateVisits.map(trainedFloats).max() ?? 0 }

    /// Floats one client visit holds besides the view: the trainer and the upload's copies.
    private func visitFloats(clientsOnRank: Int) -> Double {
        let copies = settings.uploadEncoding == .fp32 ? 0.0 : 2.0
        let restore = clientsOnRank > 1 || settings.uploadEncoding != .fp32 ? 1.0 : 0.0
        return candidateVisits.map { target in
            let trained = trainedFloats(target)
            return trainerFloats(target) + (restore + copies) * trained
        }.max() ?? 0
    }

    /// What the trainer of a visit to `target` allocates: its activations, and the gradients and
    /// two moments of what it trains (a `LoRATrainer` counts its own).
    private func trainerFloats(_ target: RoundTarget) -> Double {
        let (b, s, t) = (settings.batch, settings.sequence, threads)
        guard target != .adapters else {
            return ActivationMemory.loraTrainer(config: model, lora: settings.lora, batch: b, sequence: s, threads: t)
        }
        let blocks = Set(units.units(of: target).map(units.block(ofUnit:)))
        let skipped = blocks.count == 1 && settings.layerDrop.fraction > 0
            ? settings.layerDrop.droppedLayers(activeBlock: blocks.first!, layout: layout) : []
        return ActivationMemory.trainer(config: model, batch: b, sequence: s, trainableBlocks: blocks, skipped: skipped, threads: t)
            + 3 * trainedFloats(target)
    }

    /// Bytes of the first round's broadcast: the whole model, the units `target` trains exact
    /// fp32 and the others as the download codec encodes them, and fedlora's adapters.
    private func broadcastBytes(_ target: RoundTarget) -> Double {
        let trained = Set(units.units(of: target))
        let model = (0..<units.parameterUnitCount).reduce(0.0) { sum, unit in
            sum + (trained.contains(unit) ? 4 * floats(ofUnit: unit) : downloadBytes[unit])
        }
        return model + (units.adapterUnit.map { 4 * floats(ofUnit: $0) } ?? 0)
    }

    /// The largest first broadcast of the candidate visits.
    private var broadcastBytes: Double { candidateVisits.map(broadcastBytes).max() ?? 0 }

    private var corpusParts: [Part] {
        [Part(name: "corpus tokens", bytes: 4 * corpusTokens)]
    }

    private var viewBytes: Double { 4 * (parameters + (units.adapterUnit.map(floats(ofUnit:)) ?? 0)) }

    /// A client rank at P > 1 hosting `clientsOnRank` of a round's clients.
    public func clientRank(clientsOnRank: Int = 1) -> [Part] {
        let visit = visitFloats(clientsOnRank: clientsOnRank) * 4
        return [Part(name: "fixed", bytes: Self.fixedBytes)] + corpusParts + [
            Part(name: "model view", bytes: viewBytes),
            Part(name: "training (largest of first broadcast and client visit)", bytes: max(broadcastBytes, visit)),
        ]
    }

    /// The server at P > 1. The first broadcast, a round's uploads and fedlora's merged model
    /// (made at the first evaluation, after the broadcast is freed) are not alive at once.
    public func serverRank() -> [Part] {
        let k = Double(settings.clientsTrainingPerRound)
        let r = trainedUnit
        // The broadcast buffer, and the fp32 copy of the largest unit encoded into it.
        let largestUnit = (0..<units.count).map(floats(ofUnit:)).max() ?? 0
        let broadcast = broadcastBytes + 4 * largestUnit
        // The joined upload body, the k decoded uploads, the copy before aggregation, and for
        // k > 1 the Double sum.
        let uploads = 4 * (r + k * r + r + (k > 1 ? 2 * r : 0))
        let merged = units.hasAdapters ? 4 * parameters : 0
        let validation = Double(settings.evalBatches) * rows * 8
        let evaluator = ActivationMemory.evaluator(config: model, batch: settings.batch, sequence: settings.sequence, threads: threads)
        return [Part(name: "fixed", bytes: Self.fixedBytes)] + corpusParts + [
            Part(name: "global model", bytes: viewBytes),
            Part(name: "largest of first broadcast, uploads" + (merged > 0 ? " and merged model" : ""),
                 bytes: max(broadcast, uploads, merged)),
            Part(name: "evaluation", bytes: 4 * evaluator + validation),
        ]
    }

    /// Rank 0 alone (P = 1): the server and every client's visit in one process; the broadcast
    /// stays alive while its clients train.
    public func singleRank() -> [Part] {
        let visit = visitFloats(clientsOnRank: settings.clientsTrainingPerRound) * 4
        return serverRank() + [Part(name: "client view", bytes: viewBytes), Part(name: "client visit", bytes: visit)]
    }

    public static func total(_ parts: [Part]) -> Double { parts.reduce(0) { $0 + $1.bytes } }

    /// Clients of one round on the busiest client rank (selection takes consecutive clients,
    /// placed round robin).
    public func clientsPerRank(size: Int) -> Int {
        let k = settings.clientsTrainingPerRound
        return max(1, (k + max(size - 1, 1) - 1) / max(size - 1, 1))
    }

    /// Estimated peak bytes of each rank of a `size`-rank job.
    public func perRank(size: Int) -> [Double] {
        guard size > 1 else { return [Self.total(singleRank())] }
        let client = Self.total(clientRank(clientsOnRank: clientsPerRank(size: size)))
        return [Self.total(serverRank())] + Array(repeating: client, count: size - 1)
    }
}
