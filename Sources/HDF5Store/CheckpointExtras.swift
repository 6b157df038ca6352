import Federation

/// The parts of `/state` that only some runs need: delta sync's memory of what each client and
/// the client ranks hold (written since the download codecs), and fedlora's adapters. Older
/// checkpoints lack them, and read back as nil and empty.
enum CheckpointExtras {
    static let columns: [(name: String, description: String, units: String)] = [
        ("unit_changed_round", "for each unit (blocks, then the LoRA adapters if any), the round that last changed it (0 = the initial model)", "1"),
        ("client_unit_version", "[client, unit]: the version (round of last change) of each unit the client holds; -1 = none", "1"),
        ("client_unit_exact", "[client, unit]: 1 when the client's copy is exact fp32, 0 when it came through the download codec", "1"),
        ("lora_adapters", "fedlora's LoRA adapters, laid out as LoRALayout: per layer, c_attn, attn.c_proj, c_fc, mlp.c_proj, each A [in, r] then B [r, out]", "1"),
    ]

    static func write(_ state: RunState, to group: HDF5Group) throws {
        func describe(_ dataset: HDF5Dataset, _ name: String) throws {
            let column = columns.first { $0.name == name }!
            try dataset.setAttribute("description", column.description)
            try dataset.setAttribute("units", column.units)
        }
        if let downloads = state.downloads {
            let units = downloads.changedRound.count, clients = downloads.clientVersions.count
            try describe(try group.createDataset("unit_changed_round", shape: [units], values: downloads.changedRound), "unit_changed_round")
            try describe(try group.createDataset("client_unit_version", shape: [clients, units],
                                                 values: downloads.clientVersions.flatMap { $0 }), "client_unit_version")
            try describe(try group.createDataset("client_unit_exact", shape: [clients, units],
                                                 values: downloads.clientExact.flatMap { $0.map { $0 ? 1 : 0 } }), "client_unit_exact")
        }
        if !state.adapters.isEmpty {
            try describe(try group.createDataset("lora_adapters", shape: [state.adapters.count], values: state.adapters), "lora_adapters")
        }
    }

    static func read(from group: HDF5Group, into state: inout RunState) throws {
        if try group.contains("unit_changed_round") {
            let changed = try group.openDataset("unit_changed_round").read(as: Int.self)
            let units = changed.count
            let versions = try group.openDataset("client_unit_version").read(as: Int.self)
            let exact = try group.openDataset("client_unit_exact").read(as: Int.self)
            guard units > 0, versions.count % units == 0, exact.count == versions.count else {
                throw HDF5Error(.mismatch, file: group.file, "/state/client_unit_version does not match unit_changed_round")
            }
            let rows = stride(from: 0, to: versions.count, by: units)
            state.downloads = DownloadPlanner.SavedState(
                changedRound: changed, clientVersions: rows.map { Array(versions[$0 ..< $0 + units]) },
                clientExact: rows.map { exact[$0 ..< $0 + units].map { $0 != 0 } })
        }
        if try group.contains("lora_adapters") {
            state.adapters = try group.openDataset("lora_adapters").read(as: Float.self)
        }
    }
}
