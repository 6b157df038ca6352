import Corpus
import Federation

/// Writes and reads a per-round table (`/history`, or a block's `visits`) by looping over its
/// `HistoryColumn` declarations.
///
/// Per-client columns are as wide as `clients`; per-rank columns are created by the first
/// append, because the number of ranks is only known once a round has run, and a resumed run on
/// more ranks widens them (older rows padded). A padded column missing from the file is created
/// at the next append, with the earlier rows padded.
struct HistoryTable {
    let group: HDF5Group
    let columns: [HistoryColumn]
    /// The unit of the loss columns it creates; nil for a table that is only read or cut back.
    var lossUnit: LossUnit? = nil

    /// Creates the datasets whose width is known before the first round.
    func create(clientsPerRound: Int) throws {
        for column in columns where column.width != .perRank && column.width != .perTask {
            let width = column.width == .perClient ? clientsPerRound : nil
            try describe(try group.createExtendible(column.name, column.element, width: width,
                                                    chunkRows: column.chunkRows(width: width ?? 1)), column)
        }
    }

    /// The number of rows so far (of the first column).
    func rows() throws -> Int { try group.openDataset(columns[0].name).shape().first ?? 0 }

    /// Appends one record's row to every column; `clientWidth` is the width of the per-client columns.
    func append(_ record: RoundRecord, clientWidth: Int) throws {
        let rowsBefore = try rows()
        let ranks = max(1, columns.filter { $0.width == .perRank }.map { $0.read(record).count }.max() ?? 1)
        for column in columns {
            let cells = column.read(record)
            switch column.width {
            case .scalar:
                if try !group.contains(column.name), HistorySchema.addedLater.contains(column.name) {
                    // A run begun before the column existed: its earlier rows are padding.
                    let created = try group.createExtendible(column.name, column.element, width: nil,
                                                             chunkRows: column.chunkRows(width: 1))
                    try describe(created, column)
                    try created.append(Cells.ints([]).as(column.element).padded(to: rowsBefore), as: column.element)
                }
                try group.openDataset(column.name).append(cells, as: column.element)
            case .perClient, .perRank:
                let (dataset, width) = try padded(column, width: column.width == .perClient ? clientWidth : ranks,
                                                  rowsBefore: rowsBefore)
                try dataset.append(cells.padded(to: width), as: column.element)
            case .perTask:
                // Plain-text runs never have values: the column is never created.
                guard try cells.count > 0 || group.contains(column.name) else { continue }
                let (dataset, width) = try padded(column, width: cells.count, rowsBefore: rowsBefore)
                try dataset.append(cells.padded(to: width), as: column.element)
            }
            HistoryAppendKillSwitch.step(round: record.round)
        }
    }

    /// Drops the rows after the first `keep`.
    func truncate(keepingRows keep: Int) throws {
        for column in columns where try group.contains(column.name) {
            try group.openDataset(column.name).resize(rows: keep)
        }
    }

    /// Every row, as records; padded columns missing from the file leave their fields empty.
    func read(file: String) throws -> [RoundRecord] {
        let count = try rows()
        var records = [RoundRecord](repeating: RoundRecord(round: 0, cycle: 0, target: .allBlocks, clients: [],
                                                           trainLoss: .nan, evalLoss: .nan, bytesDown: 0, bytesUp: 0,
                                                           bytesBroadcast: 0, seconds: 0, serverCPUSeconds: 0), count: count)
        var rankColumns: [(HistoryColumn, Cells, Int)] = []
        for column in columns {
            guard let (cells, width) = try values(column, rows: count, file: file) else { continue }
            switch column.width {
            case .scalar:
                for i in 0..<count { column.write(&records[i], cells.slice(i ..< i + 1)) }
            case .perClient:
                for i in 0..<count {
                    let row = cells.slice(i * width ..< (i + 1) * width)
                    let used = (0..<width).last { !row.isPad($0) }.map { $0 + 1 } ?? 0
                    column.write(&records[i], row.slice(0 ..< used))
                }
            case .perRank:
                rankColumns.append((column, cells, width))
            case .perTask:
                // A row of padding is a round that did not evaluate; otherwise every task's value.
                for i in 0..<count {
                    let row = cells.slice(i * width ..< (i + 1) * width)
                    column.write(&records[i], (0..<width).allSatisfy(row.isPad) ? row.slice(0 ..< 0) : row)
                }
            }
        }
        fillRanks(&records, rankColumns)
        return records
    }

    // MARK: Internals

    /// Per-rank values: a row keeps the ranks up to the last one any per-rank column measured
    /// (trailing padding is ranks the round did not have).
    private func fillRanks(_ records: inout [RoundRecord], _ columns: [(HistoryColumn, Cells, Int)]) {
        guard let width = columns.first?.2 else { return }
        for i in records.indices {
            let row = i * width ..< (i + 1) * width
            let used = row.last { index in columns.contains { !$0.1.isPad(index) } }.map { $0 + 1 - row.lowerBound } ?? 0
            for (column, cells, _) in columns { column.write(&records[i], cells.slice(row.lowerBound ..< row.lowerBound + used)) }
        }
    }

    private func describe(_ dataset: HDF5Dataset, _ column: HistoryColumn) throws {
        try dataset.setAttribute("description", column.description)
        guard let lossUnit else { preconditionFailure("a history table that creates columns needs the run's loss unit") }
        try dataset.setAttribute("units", column.units.text(lossUnit: lossUnit))
        guard column.width == .perTask else { return }
        // The group's task names and validation token counts (`TaskColumns.record`) name the columns.
        for name in [TaskColumns.tasksAttribute, TaskColumns.tokensAttribute] where try group.hasAttribute(name) {
            if name == TaskColumns.tasksAttribute {
                try dataset.setAttribute(name, try group.stringAttribute(name))
            } else {
                try dataset.setAttribute(name, try group.attributeValues(name, as: Int.self))
            }
        }
    }

    /// The column's dataset, at least `width` wide: created (earlier rows padded) when missing,
    /// rewritten wider (rows padded on the right) when too narrow.
    private func padded(_ column: HistoryColumn, width: Int, rowsBefore: Int) throws -> (HDF5Dataset, Int) {
        guard try group.contains(column.name) else {
            let created = try group.createExtendible(column.name, column.element, width: width,
                                                     chunkRows: column.chunkRows(width: width))
            try describe(created, column)
            try created.append(Cells.ints([]).as(column.element).padded(to: rowsBefore * width), as: column.element)
            return (created, width)
        }
        let existing = try group.openDataset(column.name)
        let current = max(try existing.shape().last ?? 1, 1)
        guard current < width else { return (existing, current) }
        let old = try existing.readCells(column.element)
        try group.remove(column.name)
        let wider = try group.createExtendible(column.name, column.element, width: width, chunkRows: column.chunkRows(width: width))
        try describe(wider, column)
        for start in stride(from: 0, to: old.count, by: current) {
            try wider.append(old.slice(start ..< start + current).padded(to: width), as: column.element)
        }
        return (wider, width)
    }

    /// A column's values row-major and its row width, or nil when a padded column is missing.
    private func values(_ column: HistoryColumn, rows: Int, file: String) throws -> (Cells, Int)? {
        guard try group.contains(column.name) else {
            if column.width == .scalar && !HistorySchema.addedLater.contains(column.name) {
                throw HDF5Error(.corrupt, file: file, "\(group.path)/\(column.name) is missing")
            }
            return nil
        }
        let dataset = try group.openDataset(column.name)
        let shape = try dataset.shape()
        let width = column.width == .scalar ? 1 : (shape.count == 2 ? shape[1] : 0)
        guard shape.first == rows, (column.width == .scalar) == (shape.count == 1), width > 0 || column.width == .scalar else {
            throw HDF5Error(.corrupt, file: file, "\(group.path)/\(column.name) has shape \(HDF5Library.shapeText(shape)), expected \(rows) rows of a row per round")
        }
        return (try dataset.readCells(column.element), width)
    }
}

extension Cells {
    /// An empty list of the Swift type `element` is read into.
    func `as`(_ element: ElementType) -> Cells {
        switch element {
        case .int32, .int64: return .ints(ints)
        case .float32: return .floats(floats)
        case .float64: return .doubles(doubles)
        }
    }
}
