import Federation

/// One column of a per-round table in history.h5, declared once: its name, units, description
/// and element type, how wide a row is, and how the row is taken from a `RoundRecord` and put
/// back. `HistoryTable` writes and reads every column by looping over these declarations.
struct HistoryColumn {
    /// What one row of the column holds.
    enum Width {
        /// One value.
        case scalar
        /// One value per selected client, the width of `clients` (-1 pads a round with fewer).
        case perClient
        /// One value per rank, as wide as the most ranks seen (-1 / NaN pads; widened on a resume on more ranks).
        case perRank
        /// One value per task of instruction data (the history group's `tasks`); created by the
        /// first round that has values, absent in plain-text runs; a row of NaN where a round did
        /// not evaluate.
        case perTask
    }

    let name: String
    let units: Units
    let description: String
    let element: ElementType
    let width: Width
    /// The row's values, unpadded.
    let read: @Sendable (RoundRecord) -> Cells
    /// Puts a row's values (padding removed) back into a record.
    let write: @Sendable (inout RoundRecord, Cells) -> Void

    /// Rows per chunk for a row `width` values wide.
    func chunkRows(width: Int) -> Int { self.width == .scalar ? 1024 : max(16, 4096 / max(width, 1)) }
}

extension HistoryColumn {
    /// An integer column of one value per round.
    static func int(_ name: String, _ element: ElementType, _ units: Units, _ description: String,
                    _ path: WritableKeyPath<RoundRecord, Int> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: element, width: .scalar,
                      read: { .ints([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.ints.first ?? 0 })
    }

    /// A float32 column of one value per round.
    static func float(_ name: String, _ units: Units, _ description: String,
                      _ path: WritableKeyPath<RoundRecord, Float> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: .float32, width: .scalar,
                      read: { .floats([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.floats.first ?? .nan })
    }

    /// A float64 column of one value per round.
    static func double(_ name: String, _ units: Units, _ description: String,
                       _ path: WritableKeyPath<RoundRecord, Double> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: .float64, width: .scalar,
                      read: { .doubles([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.doubles.first ?? .nan })
    }

    /// An integer column of one value per client or per rank.
    static func ints(_ name: String, _ element: ElementType, _ width: Width, _ units: Units, _ description: String,
                     _ path: WritableKeyPath<RoundRecord, [Int]> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: element, width: width,
                      read: { .ints($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.ints })
    }

    /// A float32 column of one value per task.
    static func perTask(_ name: String, _ units: Units, _ description: String,
                        _ path: WritableKeyPath<RoundRecord, [Float]> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: .float32, width: .perTask,
                      read: { .floats($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.floats })
    }

    /// A float64 column of one value per rank.
    static func doubles(_ name: String, _ units: Units, _ description: String,
                        _ path: WritableKeyPath<RoundRecord, [Double]> & Sendable) -> HistoryColumn {
        HistoryColumn(name: name, units: units, description: description, element: .float64, width: .perRank,
                      read: { .doubles($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.doubles })
    }
}
