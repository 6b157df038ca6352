import Federation

/// The `/state` datasets of a checkpoint, each declared once, grouped by the component whose
/// state they are. docs/RUN-FILES.md describes the same datasets for readers.
enum StateSchema {
    static let datasets: [StateDataset] = schedule + totals + updateNorms + downloads + [adapters]

    /// `CycleSchedule.State`: for readers; the schedule itself is a function of the round.
    static let schedule: [StateDataset] = [
        .int("round", .one, "rounds completed", \.schedule.round),
        .int("cycle", .one, "the current cycle, from 1", \.schedule.cycle),
        .ints("block_order", .one, "the block order of the current cycle", \.schedule.blockOrder),
    ]

    /// `RunTotals`.
    static let totals: [StateDataset] = [
        .int("total_bytes_down", .bytes, "bytes the clients had to download, summed over all rounds so far", \.totals.bytesDown),
        .int("total_bytes_up", .bytes, "bytes the clients uploaded, summed over all rounds so far", \.totals.bytesUp),
        .int("total_bytes_broadcast", .bytes, "bytes rank 0 broadcast, summed over all rounds so far", \.totals.bytesBroadcast),
        .int("tokens_trained", .tokens, "training tokens the loss counted, by all clients so far (bytes of text with the byte tokenizer; for instruction data response and end-of-sequence tokens only, no prompt or padding)", \.totals.tokensTrained),
        .int("rejected_uploads", .one, "uploads rejected so far", \.totals.rejectedUploads),
        .loss("initial_eval_loss", "held-out loss of the initial model", \.totals.initialEvalLoss),
        .loss("last_eval_loss", "held-out loss at the last evaluation", \.totals.lastEvalLoss),
    ]

    /// `UpdateNormGuard.State`.
    static let updateNorms: [StateDataset] = [
        StateDataset(name: "update_norms", units: .one,
                     description: "the update-norm guard's window: RMS of the most recent accepted updates",
                     element: .float64, optional: false,
                     read: { (.doubles($0.updateNorms.recentNorms), [$0.updateNorms.recentNorms.count]) },
                     write: { state, cells, _ in state.updateNorms.recentNorms = cells.doubles }),
        .int("update_norm_accepted", .one, "how many updates the update-norm guard has accepted", \.updateNorms.acceptedCount),
    ]

    /// `DownloadPlanner.State`: delta sync's memory of what each client holds.
    static let downloads: [StateDataset] = [
        .ints("unit_changed_round", .one, "for each unit (blocks, then the LoRA adapters if any), the round that last changed it (0 = the initial model)", \.downloads.changedRound),
        .matrix("client_unit_version", "[client, unit]: the version (round of last change) of each unit the client holds; -1 = none", \.downloads.clientVersions),
        StateDataset(name: "client_unit_exact", units: .one,
                     description: "[client, unit]: 1 when the client's copy is exact fp32, 0 when it came through the download codec",
                     element: .int64, optional: false,
                     read: { state in
                         let rows = state.downloads.clientExact
                         return (.ints(rows.flatMap { $0.map { $0 ? 1 : 0 } }), [rows.count, rows.first?.count ?? 0])
                     },
                     write: { state, cells, shape in
                         let width = shape.count == 2 ? shape[1] : 0
                         let values = cells.ints
                         state.downloads.clientExact = width == 0 ? [] : stride(from: 0, to: values.count, by: width).map {
                             values[$0 ..< $0 + width].map { $0 != 0 }
                         }
                     }),
    ]

    /// fedlora's adapters.
    static let adapters = StateDataset(
        name: "lora_adapters", units: .one,
        description: "fedlora's LoRA adapters, laid out as LoRALayout: per layer, c_attn, attn.c_proj, c_fc, mlp.c_proj, each A [in, r] then B [r, out]",
        element: .float32, optional: true,
        read: { (.floats($0.adapters), [$0.adapters.count]) }, write: { state, cells, _ in state.adapters = cells.floats })

    /// A state with nothing in it, for the reader to fill.
    static var empty: RunState {
        RunState(schedule: .init(round: 0, cycle: 0, blockOrder: []), totals: RunTotals(),
                 downloads: .init(changedRound: [], clientVersions: [], clientExact: []))
    }
}
