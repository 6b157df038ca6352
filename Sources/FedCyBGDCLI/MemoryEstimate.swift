import Federation
import Foundation
import GPT

/// Each rank's peak memory, estimated from the job before anything is allocated, so a job that
/// cannot fit is refused in one line instead of failing (or swapping) after minutes of set-up.
///
/// The terms follow what the code allocates (all in Double, so absurd shapes cannot overflow):
/// - every rank: a fixed cost (MPI, OpenBLAS, the Swift runtime: `fixedBytes`, measured) and
///   the corpus (its bytes while loading, then 4-byte tokens);
/// - a client rank: its view of the model, the first round's broadcast (the whole model, freed
///   before training), and per client visit a `GPTTrainer` (`Workspace.swift`: activations
///   from the lowest trained block up, logits chunk, backward scratch; gradients and two AdamW
///   moments of the trained blocks: one block (or embedding shard) for fedcybgd and badam, the whole model for
///   fedavg and centralized) or, for fedlora, a `LoRATrainer` (a merged working model, dense
///   gradients of every layer, activations, the adapters' gradient and moments), plus the copies
///   the upload codec and several clients per rank need;
/// - the server rank: the global model, the encoded broadcast, the received uploads (pieces,
///   joined body, decoded values), the pre-aggregation copy and, for k > 1, a Double sum, the
///   evaluator's activations and validation batches, and fedlora's merged model.
/// With one rank the process is server and client host at once, and holds both.
struct MemoryEstimate {
    /// What every process costs before the model: the MPI library and its shared-memory
    /// segments, OpenBLAS's buffers, the Swift runtime and Foundation (measured on the tiny job
    /// of the tests: 60 MiB peak RSS per rank with the 2.6 MB fortunes corpus).
    static let fixedBytes = 50.0 * 1_048_576

    let settings: FederationSettings
    /// Bytes of the corpus files read at set-up.
    let corpusBytes: Double
    /// OpenBLAS threads per rank (the attention scratch has one slot per thread, at least 2).
    let threads: Int

    /// One part of an estimate, for `--dry-run`.
    struct Part {
        let name: String
        let bytes: Double
    }

    // MARK: sizes in floats

    private var model: GPTConfig { settings.model }
    private var c: Double { Double(model.embedDim) }
    private var rows: Double { Double(settings.batch) * Double(settings.sequence) }
    private var n: Double { rows * c }
    private var attentionMap: Double { Double(settings.sequence) * Double(settings.sequence) }
    private var workerSlots: Double { Double(max(2, threads)) }
    private var logitsChunk: Double {
        ActivationMemory.headChunkRows(rows: rows, vocab: model.vocabSize, width: model.embedDim) * Double(model.vocabSize)
    }

    private var sizes: (embeddings: Double, layer: Double, final: Double) { ParameterLayout.blockSizes(model) }

    /// Floats a visit to block `b` trains (0 = embeddings, or their largest shard with
    /// `train.embedding_shards`; 1...L = layers, L + 1 = final norm and Llama's untied head).
    private func blockSize(_ b: Int) -> Double {
        guard b == 0 else { return b <= model.layers ? sizes.layer : sizes.final }
        return settings.embeddingShards > 1 ? EmbeddingShard.largestFloats(model, shards: settings.embeddingShards) : sizes.embeddings
    }

    private var layerSize: Double { sizes.layer }
    var parameters: Double { sizes.embeddings + Double(model.layers) * sizes.layer + sizes.final }
    private var adapterCount: Double { LoRALayout.parameterCount(model: model, rank: settings.lora.rank) }

    /// Activation and backward-scratch floats of a `GPTTrainer` training `trainable`, skipping
    /// `skipped` layers, as `GPTTrainer.init` allocates them.
    func trainerActivations(trainable: Set<Int>, skipped: Set<Int>) -> Double {
        ActivationMemory.trainer(config: model, batch: settings.batch, sequence: settings.sequence, trainableBlocks: trainable,
                                 skipped: skipped, threads: threads)
    }

    /// The evaluator's floats (one layer's activations reused, two residuals, logits chunk).
    private var evaluatorActivations: Double {
        ActivationMemory.evaluator(config: model, batch: settings.batch, sequence: settings.sequence, threads: threads)
    }

    /// The blocks whose visit costs the most: the lowest two of the block set (they keep every
    /// layer's activations), the largest, and the last.
    private var candidateBlocks: [Int] {
        let blocks = settings.blockSet == .all ? [0, 1, 2, model.layers, model.layers + 1] : [1, 2, model.layers]
        let valid = settings.blockSet == .all ? 0...(model.layers + 1) : 1...model.layers
        return Array(Set(blocks.filter { valid.contains($0) })).sorted()
    }

    /// Floats one client visit holds besides the view: the trainer and the upload's copies.
    private func visitFloats(clientsOnRank: Int) -> (floats: Double, trained: Double) {
        let copies = settings.uploadEncoding == .fp32 ? 0.0 : 2.0
        let restore = clientsOnRank > 1 || settings.uploadEncoding != .fp32 ? 1.0 : 0.0
        switch settings.algorithm {
        case .fedlora:
            let a = adapterCount
            let inner = trainerActivations(trainable: Set(1...model.layers), skipped: []) + Double(model.layers) * layerSize
            return (parameters + inner + 3 * a + (restore + copies) * a, a)
        case .fedavg, .centralized:
            let p = parameters
            return (trainerActivations(trainable: Set(0...(model.layers + 1)), skipped: []) + 3 * p + (restore + copies) * p, p)
        case .fedcybgd, .badam:
            var worst = (floats: 0.0, trained: 0.0)
            for block in candidateBlocks {
                let size = blockSize(block)
                let skipped = settings.layerDrop.fraction > 0
                    ? settings.layerDrop.droppedLayers(activeBlock: block, layout: ParameterLayout(config: settings.model)) : []
                let floats = trainerActivations(trainable: [block], skipped: skipped) + 3 * size + (restore + copies) * size
                if floats > worst.floats { worst = (floats, size) }
            }
            return worst
        }
    }

    /// The largest unit a round trains (what an upload carries).
    private var trainedUnit: Double {
        switch settings.algorithm {
        case .fedlora: return adapterCount
        case .fedavg, .centralized: return parameters
        case .fedcybgd, .badam: return candidateBlocks.map(blockSize).max() ?? 0
        }
    }

    /// Bytes of the first round's broadcast: the whole model, frozen blocks through the download codec.
    private var broadcastBytes: Double {
        let perValue: Double
        switch settings.downloadEncoding {
        case .fp16, .bf16: perValue = 2
        case .int8: perValue = 1
        default: perValue = 4
        }
        let trained = trainedUnit
        return perValue * max(parameters - trained, 0) + 4 * trained
            + (settings.algorithm == .fedlora ? 4 * adapterCount : 0)
    }

    private var corpusParts: [Part] {
        [Part(name: "corpus tokens", bytes: 4 * corpusBytes)]
    }

    /// A client rank at P > 1 hosting `clientsOnRank` of a round's clients.
    func clientRank(clientsOnRank: Int = 1) -> [Part] {
        let view = 4 * (parameters + (settings.algorithm == .fedlora ? adapterCount : 0))
        let visit = visitFloats(clientsOnRank: clientsOnRank).floats * 4
        return [Part(name: "fixed", bytes: Self.fixedBytes)] + corpusParts + [
            Part(name: "model view", bytes: view),
            Part(name: "training (largest of first broadcast and client visit)", bytes: max(broadcastBytes, visit)),
        ]
    }

    /// The server at P > 1. The first broadcast, a round's uploads and fedlora's merged model
    /// (made at the first evaluation, after the broadcast is freed) are not alive at once.
    func serverRank() -> [Part] {
        let global = 4 * (parameters + (settings.algorithm == .fedlora ? adapterCount : 0))
        let k = Double(settings.clientsTrainingPerRound)
        let r = trainedUnit
        let unitEncoding = 4 * (candidateBlocks.map(blockSize).max() ?? 0)
        let broadcast = broadcastBytes + unitEncoding
        // The joined upload body, the k decoded uploads, the copy before aggregation, and for
        // k > 1 the Double sum.
        let uploads = 4 * (r + k * r + r + (k > 1 ? 2 * r : 0))
        let merged = settings.algorithm == .fedlora ? 4 * parameters : 0
        let validation = Double(settings.evalBatches) * rows * 8
        return [Part(name: "fixed", bytes: Self.fixedBytes)] + corpusParts + [
            Part(name: "global model", bytes: global),
            Part(name: "largest of first broadcast, uploads" + (merged > 0 ? " and merged model" : ""),
                 bytes: max(broadcast, uploads, merged)),
            Part(name: "evaluation", bytes: 4 * evaluatorActivations + validation),
        ]
    }

    /// Rank 0 alone (P = 1): the server and every client's visit in one process; the broadcast
    /// stays alive while its clients train.
    func singleRank() -> [Part] {
        let server = serverRank()
        let view = 4 * (parameters + (settings.algorithm == .fedlora ? adapterCount : 0))
        let k = settings.clientsTrainingPerRound
        let visit = visitFloats(clientsOnRank: k).floats * 4
        return server + [Part(name: "client view", bytes: view), Part(name: "client visit", bytes: visit)]
    }

    static func total(_ parts: [Part]) -> Double { parts.reduce(0) { $0 + $1.bytes } }

    /// Clients of one round on the busiest client rank (selection takes consecutive clients,
    /// placed round robin).
    func clientsPerRank(size: Int) -> Int {
        let k = settings.clientsTrainingPerRound
        return max(1, (k + max(size - 1, 1) - 1) / max(size - 1, 1))
    }

    /// Estimated peak bytes of each rank of a `size`-rank job.
    func perRank(size: Int) -> [Double] {
        guard size > 1 else { return [Self.total(singleRank())] }
        let client = Self.total(clientRank(clientsOnRank: clientsPerRank(size: size)))
        return [Self.total(serverRank())] + Array(repeating: client, count: size - 1)
    }
}

/// Memory this host can give the job: `MemAvailable`, or the cgroup's limit when lower.
enum MemoryBudget {
    static func available() -> (bytes: Double, source: String)? {
        var best: (Double, String)?
        if let available = meminfo("MemAvailable") { best = (available, "MemAvailable in /proc/meminfo") }
        if let limit = cgroupLimit(), limit < (best?.0 ?? .infinity) { best = (limit, "the cgroup's memory limit") }
        return best
    }

    private static func meminfo(_ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kb = Double(fields[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// cgroup v2 `memory.max` or v1 `memory.limit_in_bytes` of this process's cgroup.
    private static func cgroupLimit() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var candidates: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" {
                candidates += ["/sys/fs/cgroup\(path)/memory.max", "/sys/fs/cgroup/memory.max"]
            } else if fields[1].split(separator: ",").contains("memory") {
                candidates += ["/sys/fs/cgroup/memory\(path)/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
            }
        }
        for file in candidates {
            guard let raw = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if value == "max" { continue }
            // v1 reports "no limit" as a huge page-rounded number.
            if let limit = Double(value), limit < 1e18 { return limit }
        }
        return nil
    }
}

/// Human-readable byte counts for the estimate's messages.
enum ByteText {
    static func format(_ bytes: Double) -> String {
        guard bytes.isFinite else { return "more than 1 EB" }
        let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"]
        var value = bytes, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        if unit == 0 { return "\(Int(value)) B" }
        let number = value >= 1e4 ? String(format: "%.3g", value) : String(format: value < 10 ? "%.2f" : "%.1f", value)
        return number + " " + units[unit]
    }
}
