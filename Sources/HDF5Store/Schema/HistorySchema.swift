import Federation

/// The per-round tables of history.h5, each column declared once. docs/RUN-FILES.md describes
/// the same columns for readers.
enum HistorySchema {
    /// One-value columns added to format version 2 after runs were written without them: a file
    /// that lacks one reads as padding (-1 or NaN) there, and the next append creates it.
    static let addedLater: Set<String> = ["embedding_shard", "eval_exact_match", "eval_f1"]

    /// `/history/<column>`, one row per round.
    static let columns: [HistoryColumn] = [
        .int("round", .int64, .one, "round number, from 1", \.round),
        .int("cycle", .int32, .one, "cycle number, from 1; a cycle visits every block once", \.cycle),
        target,
        embeddingShard,
        .ints("clients", .int32, .perClient, .one, "the clients that trained this round, in aggregation order; -1 pads rounds with fewer clients than the row holds", \.clients),
        .float("train_loss", .loss, "sample-weighted mean of the clients' mean training cross-entropy over their local steps", \.trainLoss),
        .float("eval_loss", .loss, "held-out cross-entropy after the round; NaN when the round did not evaluate", \.evalLoss),
        .int("bytes_down", .int64, .bytes, "bytes the selected clients had to download: for each, the encoded blocks changed since it last synchronised", \.bytesDown),
        .int("bytes_up", .int64, .bytes, "encoded bytes of the uploads the server accepted (header plus block)", \.bytesUp),
        .int("bytes_broadcast", .int64, .bytes, "bytes rank 0 actually broadcast this round (header plus changed blocks)", \.bytesBroadcast),
        .int("rejected_uploads", .int32, .one, "uploads the server left out of the aggregate this round (bad header, size or values)", \.rejectedUploads),
        .double("seconds", .seconds, "wall time of the round, including evaluation", \.seconds),
        .double("server_cpu_seconds", .seconds, "CPU time (user + system) the server rank used during the round", \.serverCPUSeconds),
        .ints("client_bytes_down", .int64, .perClient, .bytes, "per selected client, in clients order: bytes it was charged to download (bytes_down is their sum); -1 pads", \.clientBytesDown),
        .ints("client_bytes_up", .int64, .perClient, .bytes, "per selected client, in clients order: encoded bytes the server received from it, a rejected upload included (equals bytes_up when no upload was rejected); -1 pads", \.clientBytesUp),
        .ints("rank_peak_rss", .int64, .perRank, .bytes, "per rank (column = MPI rank): peak resident set size of its process so far (VmHWM), measured at the end of the round; -1: not measured", \.rankPeakRSS),
        .doubles("rank_compute_seconds", .seconds, "per rank: seconds of the round spent computing (training, aggregation, evaluation): neither communicating nor waiting; NaN: not measured", \.rankComputeSeconds),
        .doubles("rank_comm_seconds", .seconds, "per rank: seconds of the round spent communicating: rank 0 encoding and broadcasting, a client rank decoding the broadcast and sending uploads; NaN: not measured", \.rankCommSeconds),
        .float("eval_exact_match", .one, "instruction data: mean SQuAD exact match (0..1) of the greedy answers to the validation prompts of this evaluation (/generations holds them); NaN when the round did not evaluate, no answer was generated, or the data is plain text", \.evalExactMatch),
        .float("eval_f1", .one, "instruction data: mean SQuAD token F1 (0..1) of the same answers; NaN as for eval_exact_match", \.evalF1),
        .perTask("eval_task_loss", .loss, "instruction data: per task (columns in the order of the attribute tasks), the validation split's response cross-entropy over that task's counted targets in the evaluation batches (the attribute validation_tokens gives their counts; their token-weighted mean is eval_loss); NaN rows: the round did not evaluate", \.evalTaskLoss),
        .perTask("eval_task_exact_match", .one, "instruction data: per task, mean SQuAD exact match of its greedy answers; NaN: no answer of that task, or the round did not evaluate", \.evalTaskExactMatch),
        .perTask("eval_task_f1", .one, "instruction data: per task, mean SQuAD token F1 of its greedy answers; NaN as for eval_task_exact_match", \.evalTaskF1),
        .doubles("rank_wait_seconds", .seconds, "per rank: seconds of the round spent waiting: rank 0 blocked receiving uploads and reports, a client rank neither computing nor communicating; compute + comm + wait = seconds; NaN: not measured", \.rankWaitSeconds),
    ]

    /// `block`: the round's target as a block index, or -1 for a round that trains every block
    /// or the LoRA adapters (the job's algorithm says which; read back as every block).
    static let target = HistoryColumn(
        name: "block", units: .one,
        description: "the block trained this round: 0 = embeddings, 1..L = transformer layers, L+1 = final LayerNorm; -1: every block (fedavg, centralized) or the LoRA adapters (fedlora)",
        element: .int32, width: .scalar, read: { .ints([$0.target.block ?? -1]) },
        write: { record, cells in record.target = (cells.ints.first).flatMap { $0 >= 0 ? .block($0) : nil } ?? .allBlocks })

    /// `embedding_shard`: which vocabulary-row shard of the embeddings the round trained
    /// (`train.embedding_shards` > 1), read after `block` so that it refines the target.
    static let embeddingShard = HistoryColumn.int(
        "embedding_shard", .int32, .one,
        "the shard of the embeddings (block 0) trained this round when train.embedding_shards = S > 1: 0..S-1, shard s holding token-embedding rows 16*floor(s*G/S) up to 16*floor((s+1)*G/S) (G = ceil(V/16) groups of 16 rows, the last cut at V) and, for the last shard of a GPT-2 model, the position embeddings; -1: the round trained a whole block or more",
        \.embeddingShard)

    /// `/blocks/<block>/visits/<column>`, one row per round that trained the block.
    static let visits: [HistoryColumn] = [
        .int("round", .int64, .one, "the round that trained this block", \.round),
        embeddingShard,
        .ints("clients", .int32, .perClient, .one, "the clients that trained it, in aggregation order; -1 pads", \.clients),
        .float("loss_before", .loss, "sample-weighted mean of the accepted clients' loss at their first local step", \.lossBefore),
        .float("loss_after", .loss, "sample-weighted mean of the accepted clients' loss at their last local step", \.lossAfter),
        .float("update_norm", .one, "L2 norm of the change the round installed in the block (0 if every upload was rejected)", \.updateNorm),
        .int("bytes_up", .int64, .bytes, "encoded bytes the clients uploaded for this visit", \.bytesUp),
        .int("bytes_down", .int64, .bytes, "bytes the clients had to download for this visit", \.bytesDown),
    ]
}
