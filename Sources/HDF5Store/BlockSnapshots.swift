import Federation
import GPT

/// `/blocks/<block>/snapshots`: the block's weights after each visit, one gzip-compressed row
/// per visit, written only when a job asks for snapshots.
enum BlockSnapshots {
    static func append(block: Int, round: Int, values: UnsafeBufferPointer<Float>, to file: HDF5File, config: GPTConfig?) throws {
        let blocks = try file.contains("blocks") ? try file.openGroup("blocks") : try file.createGroup("blocks")
        let name = BlockVisits.blockName(block, config: config)
        let group = try blocks.contains(name) ? try blocks.openGroup(name) : try blocks.createGroup(name)
        if try !group.contains("snapshots") {
            let dataset = try group.createExtendibleDataset("snapshots", of: Float.self, rowShape: [values.count], chunkRows: 1)
            try dataset.setAttribute("description", "the block's parameters (its tensors in order, flattened) after each visit; row i goes with snapshot_rounds[i]")
            try dataset.setAttribute("units", "1")
            let rounds = try group.createExtendibleDataset("snapshot_rounds", of: Int64.self)
            try rounds.setAttribute("description", "the round after which each snapshot row was taken")
            try rounds.setAttribute("units", "1")
        }
        try group.openDataset("snapshots").append(Array(values))
        try group.openDataset("snapshot_rounds").append([Int64(round)])
    }

    /// Drops snapshots of rounds after `round`.
    static func truncate(in file: HDF5File, afterRound round: Int) throws {
        guard try file.contains("blocks") else { return }
        let blocks = try file.openGroup("blocks")
        for name in try blocks.memberNames() {
            let group = try blocks.openGroup(name)
            guard try group.contains("snapshot_rounds") else { continue }
            let rounds = try group.openDataset("snapshot_rounds").read(as: Int64.self)
            let keep = rounds.firstIndex { $0 > Int64(round) } ?? rounds.count
            guard keep < rounds.count else { continue }
            try group.openDataset("snapshots").resize(rows: keep)
            try group.openDataset("snapshot_rounds").resize(rows: keep)
        }
    }
}
