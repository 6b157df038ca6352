import Corpus
import Federation
import GPT

/// `/blocks/<block>/visits` in history.h5: one row each time a round trains that block, so a
/// reader can follow one block through the run without filtering the round history.
enum BlockVisits {
    /// The group name of each block: "embeddings", "h.0", ..., "ln_f".
    static func blockName(_ block: Int, config: GPTConfig?) -> String {
        guard let config, block < config.layers + 2 else { return "block-\(block)" }
        return ParameterLayout(config: config).blocks[block].name
    }

    static func append(_ record: RoundRecord, block: Int, to file: HDF5File, config: GPTConfig?, lossUnit: LossUnit, width: Int) throws {
        let blocks = try file.contains("blocks") ? try file.openGroup("blocks") : try createBlocksGroup(in: file)
        let name = blockName(block, config: config)
        let visits = try blocks.contains(name) ? try blocks.openGroup(name).openGroup("visits")
            : try createVisits(in: blocks, name: name, block: block, width: width, lossUnit: lossUnit)
        try HistoryTable(group: visits, columns: HistorySchema.visits, lossUnit: lossUnit).append(record, clientWidth: width)
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
            try HistoryTable(group: visits, columns: HistorySchema.visits).truncate(keepingRows: keep)
        }
    }

    private static func createBlocksGroup(in file: HDF5File) throws -> HDF5Group {
        let blocks = try file.createGroup("blocks")
        try blocks.setAttribute("description", "per block: one row in visits each time a round trained that block")
        return blocks
    }

    private static func createVisits(in blocks: HDF5Group, name: String, block: Int, width: Int,
                                     lossUnit: LossUnit) throws -> HDF5Group {
        let group = try blocks.createGroup(name)
        try group.setAttribute("description", "block \(block) (\(name))")
        try group.setAttribute("block", block)
        let visits = try group.createGroup("visits")
        try visits.setAttribute("description", "one row per round that trained this block")
        try HistoryTable(group: visits, columns: HistorySchema.visits, lossUnit: lossUnit).create(clientsPerRound: width)
        return visits
    }
}
