import Federation

/// The measurement columns of `/history`: bytes per selected client [R, k], padded with -1
/// like `clients`, and peak RSS and the time split per rank [R, P], padded with -1 / NaN.
///
/// The per-rank columns are created by the first append, because the number of ranks is only
/// known once a round has run; a resumed run on more ranks widens them (older rows padded).
/// A history written before these columns existed gets them at its next append, with the
/// earlier rows padded.
enum HistoryMeasures {
    static let clientColumns = ["client_bytes_down", "client_bytes_up"]
    static let rankColumns = ["rank_peak_rss", "rank_compute_seconds", "rank_comm_seconds", "rank_wait_seconds"]
    static var names: Set<String> { Set(clientColumns + rankColumns) }

    static func createClientColumns(in history: HDF5Group, width: Int) throws {
        for name in clientColumns { _ = try create(name, of: Int64.self, in: history, width: width) }
    }

    /// Appends the record's row; `rowsBefore` is how many rows the history had before it.
    static func append(_ record: RoundRecord, to history: HDF5Group, clientWidth: Int, rowsBefore: Int) throws {
        let down = try column("client_bytes_down", in: history, width: clientWidth, pad: Int64(-1), rowsBefore: rowsBefore)
        try down.dataset.append(padded(record.clientBytesDown.map { Int64($0) }, to: down.width, with: -1))
        let up = try column("client_bytes_up", in: history, width: clientWidth, pad: Int64(-1), rowsBefore: rowsBefore)
        try up.dataset.append(padded(record.clientBytesUp.map { Int64($0) }, to: up.width, with: -1))

        let ranks = max(1, record.rankPeakRSS.count, record.rankComputeSeconds.count,
                        record.rankCommSeconds.count, record.rankWaitSeconds.count)
        let rss = try column("rank_peak_rss", in: history, width: ranks, pad: Int64(-1), rowsBefore: rowsBefore)
        try rss.dataset.append(padded(record.rankPeakRSS.map { Int64($0) }, to: rss.width, with: -1))
        let times = [("rank_compute_seconds", record.rankComputeSeconds), ("rank_comm_seconds", record.rankCommSeconds),
                     ("rank_wait_seconds", record.rankWaitSeconds)]
        for (name, values) in times {
            let seconds = try column(name, in: history, width: ranks, pad: Double.nan, rowsBefore: rowsBefore)
            try seconds.dataset.append(padded(values, to: seconds.width, with: .nan))
        }
    }

    /// Fills the measured fields of `records` (one per row, in order) from the columns present.
    static func read(into records: inout [RoundRecord], from history: HDF5Group, file: String) throws {
        if let (down, width) = try rows("client_bytes_down", Int.self, history, records.count, file),
           let (up, _) = try rows("client_bytes_up", Int.self, history, records.count, file) {
            for i in records.indices {
                let selected = i * width ..< i * width + min(records[i].clients.count, width)
                records[i].clientBytesDown = down[selected].filter { $0 >= 0 }
                records[i].clientBytesUp = up[selected].filter { $0 >= 0 }
            }
        }
        guard let (rss, width) = try rows("rank_peak_rss", Int.self, history, records.count, file),
              let (compute, _) = try rows("rank_compute_seconds", Double.self, history, records.count, file),
              let (comm, _) = try rows("rank_comm_seconds", Double.self, history, records.count, file),
              let (wait, _) = try rows("rank_wait_seconds", Double.self, history, records.count, file) else { return }
        for i in records.indices {
            let row = i * width ..< (i + 1) * width
            // Trailing columns with nothing measured are padding: ranks this round did not have.
            let measured = row.last { rss[$0] != -1 || !compute[$0].isNaN || !comm[$0].isNaN || !wait[$0].isNaN }
            let used = row.lowerBound ..< (measured.map { $0 + 1 } ?? row.lowerBound)
            records[i].rankPeakRSS = Array(rss[used])
            records[i].rankComputeSeconds = Array(compute[used])
            records[i].rankCommSeconds = Array(comm[used])
            records[i].rankWaitSeconds = Array(wait[used])
        }
    }

    // MARK: Internals

    private static func padded<T>(_ values: [T], to width: Int, with pad: T) -> [T] {
        Array(values.prefix(width)) + Array(repeating: pad, count: max(0, width - values.count))
    }

    private static func create<T: HDF5Scalar>(_ name: String, of type: T.Type, in history: HDF5Group, width: Int) throws -> HDF5Dataset {
        let dataset = try history.createExtendibleDataset(name, of: T.self, rowShape: [width], chunkRows: max(16, 4096 / width))
        let schema = RunSchema.history.first { $0.name == name }!
        try dataset.setAttribute("description", schema.description)
        try dataset.setAttribute("units", schema.units)
        return dataset
    }

    /// The column `name`, at least `width` wide: created (earlier rows padded) when missing,
    /// rewritten wider (rows padded on the right) when too narrow.
    private static func column<T: HDF5Scalar>(_ name: String, in history: HDF5Group, width: Int, pad: T,
                                              rowsBefore: Int) throws -> (dataset: HDF5Dataset, width: Int) {
        guard try history.contains(name) else {
            let created = try create(name, of: T.self, in: history, width: width)
            try created.append(Array(repeating: pad, count: rowsBefore * width))
            return (created, width)
        }
        let existing = try history.openDataset(name)
        let current = try existing.shape().last ?? 1
        guard current < width else { return (existing, current) }
        let old = try existing.read(as: T.self)
        try history.remove(name)
        let wider = try create(name, of: T.self, in: history, width: width)
        var values: [T] = []
        values.reserveCapacity(old.count / max(current, 1) * width)
        for start in stride(from: 0, to: old.count, by: max(current, 1)) {
            values += padded(Array(old[start ..< start + current]), to: width, with: pad)
        }
        try wider.append(values)
        return (wider, width)
    }

    /// A column's values row-major and its width, or nil when the history lacks it.
    private static func rows<T: HDF5Scalar>(_ name: String, _ type: T.Type, _ history: HDF5Group, _ count: Int,
                                            _ file: String) throws -> ([T], Int)? {
        guard try history.contains(name) else { return nil }
        let dataset = try history.openDataset(name)
        let shape = try dataset.shape()
        guard shape.count == 2, shape[0] == count else {
            throw HDF5Error(.corrupt, file: file, "/history/\(name) has shape \(HDF5Library.shapeText(shape)), expected \(count) rows of a row per round")
        }
        return (try dataset.read(as: T.self), shape[1])
    }
}
