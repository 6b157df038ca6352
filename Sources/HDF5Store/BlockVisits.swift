import Federation
import GPT

/// `/blocks/<block>/visits` in history.h5: one row each time a round trains that block, so a
/// reader can follow one block through the run without filtering the round history.
enum BlockVisits {
    typealias Column = RunSchema.Column

    static let columns: [Column] = [
        Column(name: "round", description: "the round that trained this block", units: "1"),
        Column(name: "clients", description: "the clients that trained it, in aggregation order; -1 pads", units: "1"),
        Column(name: "loss_before", description: "sample-weighted mean of the accepted clients' loss at their first local step", units: "nats/byte"),
        Column(name: "loss_after", description: "sample-weighted mean of the accepted clients' loss at their last local step", units: "nats/byte"),
        Column(name: "update_norm", description: "L2 norm of the change the round installed in the block (0 if every upload was rejected)", units: "1"),
        Column(name: "bytes_up", description: "encoded bytes the clients uploaded for this visit", units: "bytes"),
        Column(name: "bytes_down", description: "bytes the clients had to download for this visit", units: "bytes"),
    ]

    /// The group name of each block: "embeddings", "h.0", ..., "ln_f".
    static func blockName(_ block: Int, config: GPTConfig?) -> String {
        guard let config, block < config.layers + 2 else { return "block-\(block)" }
        return ParameterLayout(config: config).blocks[block].name
    }

    static func append(_ record: RoundRecord, to file: HDF5File, config: GPTConfig?, width: Int) throws {
        let blocks = try file.contains("blocks") ? try file.openGroup("blocks") : try createBlocksGroup(in: file)
        let name = blockName(record.block, config: config)
        let visits = try blocks.contains(name) ? try blocks.openGroup(name).openGroup("visits")
            : try createVisits(in: blocks, name: name, block: record.block, width: width, config: config)
        try visits.openDataset("round").append([Int64(record.round)])
        try visits.openDataset("clients").append(record.clients.map { Int32($0) } + Array(repeating: -1, count: max(0, width - record.clients.count)))
        try visits.openDataset("loss_before").append([record.lossBefore])
        try visits.openDataset("loss_after").append([record.lossAfter])
        try visits.openDataset("update_norm").append([record.updateNorm])
        try visits.openDataset("bytes_up").append([Int64(record.bytesUp)])
        try visits.openDataset("bytes_down").append([Int64(record.bytesDown)])
    }

    /// Drops visit rows of rounds after `round`, as a resume cuts the history back.
    static func truncate(in file: HDF5File, afterRound round: Int) throws {
        guard try file.contains("blocks") else { return }
        let blocks = try file.openGroup("blocks")
        for name in try blocks.memberNames() {
            let visits = try blocks.openGroup(name).openGroup("visits")
            let rounds = try visits.openDataset("round").read(as: Int64.self)
            let keep = rounds.firstIndex { $0 > Int64(round) } ?? rounds.count
            guard keep < rounds.count else { continue }
            for column in columns { try visits.openDataset(column.name).resize(rows: keep) }
        }
    }

    private static func createBlocksGroup(in file: HDF5File) throws -> HDF5Group {
        let blocks = try file.createGroup("blocks")
        try blocks.setAttribute("description", "per block: one row in visits each time a round trained that block")
        return blocks
    }

    private static func createVisits(in blocks: HDF5Group, name: String, block: Int, width: Int,
                                     config: GPTConfig?) throws -> HDF5Group {
        let group = try blocks.createGroup(name)
        try group.setAttribute("description", "block \(block) (\(name))")
        try group.setAttribute("block", block)
        let visits = try group.createGroup("visits")
        try visits.setAttribute("description", "one row per round that trained this block")
        for column in columns {
            let dataset: HDF5Dataset
            switch column.name {
            case "round", "bytes_up", "bytes_down": dataset = try visits.createExtendibleDataset(column.name, of: Int64.self)
            case "clients": dataset = try visits.createExtendibleDataset(column.name, of: Int32.self, rowShape: [width], chunkRows: 64)
            default: dataset = try visits.createExtendibleDataset(column.name, of: Float.self)
            }
            try dataset.setAttribute("description", column.description)
            try dataset.setAttribute("units", RunSchema.units(column, config: config))
        }
        return visits
    }
}

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
