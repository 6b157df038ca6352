import Foundation
import GPT

/// One tensor of a checkpoint: its Hugging Face name and shape, and where it lives in the
/// contiguous parameter buffer. Built from a `TensorSlot`, or by hand where no layout exists.
public struct CheckpointTensor: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    /// Offset of the first element in the parameter buffer.
    public var offset: Int
    /// The training block the tensor belongs to, recorded as an attribute (-1: none).
    public var block: Int

    public var count: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], offset: Int, block: Int = -1) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.block = block
    }

    public init(_ slot: TensorSlot) {
        self.init(name: slot.name, shape: slot.shape, offset: slot.offset, block: slot.block)
    }

    /// The tensors of a layout, in buffer order.
    public static func list(_ layout: ParameterLayout) -> [CheckpointTensor] {
        layout.tensors.map(CheckpointTensor.init)
    }
}

/// Names, descriptions and units of the run files. `docs/RUN-FILES.md` describes the same.
enum RunSchema {
    static let program = "fedcybgd"
    /// Bumped when the layout of the files changes incompatibly.
    static let formatVersion = 1
    static let historyFile = "history.h5"

    /// The units of `column` in a run of `config`: a loss is per byte for a byte-level model
    /// (vocabulary 256) and per token for a BPE model.
    static func units(_ column: Column, config: GPTConfig?) -> String {
        guard column.units == "nats/byte", let config, config.vocabSize != 256 else { return column.units }
        return "nats/token"
    }

    struct Column {
        let name: String
        let description: String
        let units: String
    }

    /// The `/history/<column>` datasets, one row per round.
    static let history: [Column] = [
        Column(name: "round", description: "round number, from 1", units: "1"),
        Column(name: "cycle", description: "cycle number, from 1; a cycle visits every block once", units: "1"),
        Column(name: "block", description: "the block trained this round: 0 = embeddings, 1..L = transformer layers, L+1 = final LayerNorm", units: "1"),
        Column(name: "clients", description: "the clients that trained this round, in aggregation order; -1 pads rounds with fewer clients than the row holds", units: "1"),
        Column(name: "train_loss", description: "sample-weighted mean of the clients' mean training cross-entropy over their local steps", units: "nats/byte"),
        Column(name: "eval_loss", description: "held-out cross-entropy after the round; NaN when the round did not evaluate", units: "nats/byte"),
        Column(name: "bytes_down", description: "bytes the selected clients had to download: for each, the encoded blocks changed since it last synchronised", units: "bytes"),
        Column(name: "bytes_up", description: "encoded bytes of the uploads the server accepted (header plus block)", units: "bytes"),
        Column(name: "bytes_broadcast", description: "bytes rank 0 actually broadcast this round (header plus changed blocks)", units: "bytes"),
        Column(name: "rejected_uploads", description: "uploads the server left out of the aggregate this round (bad header, size or values)", units: "1"),
        Column(name: "seconds", description: "wall time of the round, including evaluation", units: "s"),
        Column(name: "server_cpu_seconds", description: "CPU time (user + system) the server rank used during the round", units: "s"),
        Column(name: "client_bytes_down", description: "per selected client, in clients order: bytes it was charged to download (bytes_down is their sum); -1 pads", units: "bytes"),
        Column(name: "client_bytes_up", description: "per selected client, in clients order: encoded bytes the server received from it, a rejected upload included (equals bytes_up when no upload was rejected); -1 pads", units: "bytes"),
        Column(name: "rank_peak_rss", description: "per rank (column = MPI rank): peak resident set size of its process so far (VmHWM), measured at the end of the round; -1: not measured", units: "bytes"),
        Column(name: "rank_compute_seconds", description: "per rank: seconds of the round spent computing (training, aggregation, evaluation): neither communicating nor waiting; NaN: not measured", units: "s"),
        Column(name: "rank_comm_seconds", description: "per rank: seconds of the round spent communicating: rank 0 encoding and broadcasting, a client rank decoding the broadcast and sending uploads; NaN: not measured", units: "s"),
        Column(name: "rank_wait_seconds", description: "per rank: seconds of the round spent waiting: rank 0 blocked receiving uploads and reports, a client rank neither computing nor communicating; compute + comm + wait = seconds; NaN: not measured", units: "s"),
    ]

    /// The `/state/<name>` datasets of a checkpoint.
    static let state: [Column] = [
        Column(name: "round", description: "rounds completed", units: "1"),
        Column(name: "cycle", description: "the current cycle, from 1", units: "1"),
        Column(name: "block_order", description: "the block order of the current cycle", units: "1"),
        Column(name: "client_last_sync", description: "for each client, the last round whose model it holds (0 = never synchronised)", units: "1"),
        Column(name: "total_bytes_down", description: "bytes the clients had to download, summed over all rounds so far", units: "bytes"),
        Column(name: "total_bytes_up", description: "bytes the clients uploaded, summed over all rounds so far", units: "bytes"),
        Column(name: "total_bytes_broadcast", description: "bytes rank 0 broadcast, summed over all rounds so far", units: "bytes"),
        Column(name: "tokens_trained", description: "training tokens (bytes of text) processed by all clients so far", units: "tokens"),
        Column(name: "block_changed_round", description: "for each block, the round that last changed it (0 = the initial model); delta sync sends what changed since a client's last synchronisation", units: "1"),
        Column(name: "rejected_uploads", description: "uploads rejected so far", units: "1"),
        Column(name: "initial_eval_loss", description: "held-out loss of the initial model", units: "nats/byte"),
        Column(name: "last_eval_loss", description: "held-out loss at the last evaluation", units: "nats/byte"),
        Column(name: "update_norms", description: "the update-norm guard's window: RMS of the most recent accepted updates", units: "1"),
        Column(name: "update_norm_accepted", description: "how many updates the update-norm guard has accepted", units: "1"),
    ]

    /// The attributes of `/summary` in history.h5; each also has `<name>_units` and `<name>_description`.
    static let summary: [Column] = [
        Column(name: "rounds", description: "rounds run", units: "1"),
        Column(name: "clients", description: "number of clients", units: "1"),
        Column(name: "parameter_count", description: "model parameters", units: "1"),
        Column(name: "total_bytes_down", description: "bytes the clients had to download", units: "bytes"),
        Column(name: "total_bytes_up", description: "bytes the clients uploaded", units: "bytes"),
        Column(name: "total_bytes_broadcast", description: "bytes rank 0 broadcast", units: "bytes"),
        Column(name: "tokens_trained", description: "training tokens processed", units: "tokens"),
        Column(name: "initial_eval_loss", description: "held-out loss before training", units: "nats/byte"),
        Column(name: "final_eval_loss", description: "held-out loss after training", units: "nats/byte"),
        Column(name: "wall_seconds", description: "wall time of the run since its last start or resume, including start-up, evaluation and checkpoints", units: "s"),
        Column(name: "server_cpu_seconds", description: "CPU time of the server rank (since the last start or resume)", units: "s"),
        Column(name: "rejected_uploads", description: "uploads rejected over the whole run", units: "1"),
        Column(name: "bytes_per_client_mean", description: "bytes down + up per client over the whole run (client_bytes_down + client_bytes_up), mean over the clients that took part", units: "bytes"),
        Column(name: "bytes_per_client_max", description: "bytes down + up per client over the whole run, the largest over the clients", units: "bytes"),
        Column(name: "peak_client_rss", description: "largest peak RSS of a rank hosting clients over the run (rank 0 in one-rank rounds)", units: "bytes"),
        Column(name: "peak_server_rss", description: "largest peak RSS of rank 0 over the run", units: "bytes"),
        Column(name: "client_compute_fraction", description: "fraction of wall_seconds the client ranks spent computing: rank_compute_seconds of the client ranks (ranks 1..P-1; rank 0 when P = 1) summed over the rounds since the last start or resume, divided by (client ranks × wall_seconds); -1: not measured", units: "1"),
    ]

    static func checkpointName(round: Int) -> String {
        "checkpoint-" + String(format: "%06d", round) + ".h5"
    }

    /// The round of a file named like `checkpoint-000012.h5`, or nil for any other name.
    static func checkpointRound(fileName: String) -> Int? {
        guard fileName.hasPrefix("checkpoint-"), fileName.hasSuffix(".h5") else { return nil }
        let digits = fileName.dropFirst("checkpoint-".count).dropLast(".h5".count)
        guard digits.count >= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    static func tensorDescription(_ tensor: CheckpointTensor) -> String {
        let block = tensor.block >= 0 ? ", block \(tensor.block)" : ""
        return "GPT-2 parameter \(tensor.name)\(block); Hugging Face name and shape (Conv1D weights are [in, out])"
    }

    /// ISO 8601 UTC time with seconds, e.g. 2026-05-09T07:35:25Z.
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
