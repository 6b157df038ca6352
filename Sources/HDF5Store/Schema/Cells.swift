/// The values of one row or one dataset, in the Swift type the program records them in.
enum Cells: Equatable {
    case ints([Int])
    case floats([Float])
    case doubles([Double])

    var count: Int {
        switch self {
        case let .ints(values): return values.count
        case let .floats(values): return values.count
        case let .doubles(values): return values.count
        }
    }

    var ints: [Int] { if case let .ints(values) = self { return values }; return [] }
    var floats: [Float] { if case let .floats(values) = self { return values }; return [] }
    var doubles: [Double] { if case let .doubles(values) = self { return values }; return [] }

    /// Whether value `index` is padding (-1 or NaN): a client or rank the row did not have.
    func isPad(_ index: Int) -> Bool {
        switch self {
        case let .ints(values): return values[index] == -1
        case let .floats(values): return values[index].isNaN
        case let .doubles(values): return values[index].isNaN
        }
    }

    /// Values `range`.
    func slice(_ range: Range<Int>) -> Cells {
        switch self {
        case let .ints(values): return .ints(Array(values[range]))
        case let .floats(values): return .floats(Array(values[range]))
        case let .doubles(values): return .doubles(Array(values[range]))
        }
    }

    /// The first `width` values, padded with -1 / NaN up to `width`.
    func padded(to width: Int) -> Cells {
        func pad<T>(_ values: [T], _ filler: T) -> [T] {
            Array(values.prefix(width)) + Array(repeating: filler, count: max(0, width - values.count))
        }
        switch self {
        case let .ints(values): return .ints(pad(values, -1))
        case let .floats(values): return .floats(pad(values, .nan))
        case let .doubles(values): return .doubles(pad(values, .nan))
        }
    }
}

extension HDF5Container {
    /// An extendible dataset of rows of `width` values (a scalar per row when `width` is nil).
    func createExtendible(_ name: String, _ element: ElementType, width: Int?, chunkRows: Int) throws -> HDF5Dataset {
        let row = width.map { [$0] } ?? []
        switch element {
        case .int32: return try createExtendibleDataset(name, of: Int32.self, rowShape: row, chunkRows: chunkRows)
        case .int64: return try createExtendibleDataset(name, of: Int64.self, rowShape: row, chunkRows: chunkRows)
        case .float32: return try createExtendibleDataset(name, of: Float.self, rowShape: row, chunkRows: chunkRows)
        case .float64: return try createExtendibleDataset(name, of: Double.self, rowShape: row, chunkRows: chunkRows)
        }
    }

    /// A fixed dataset of `shape` (a scalar for []) holding `cells` as `element`, checksummed
    /// (Fletcher32) unless it is a scalar.
    func create(_ name: String, _ element: ElementType, shape: [Int], cells: Cells) throws -> HDF5Dataset {
        switch element {
        case .int32: return try createChecksummedDataset(name, shape: shape, values: cells.ints.map { Int32($0) })
        case .int64: return try createChecksummedDataset(name, shape: shape, values: cells.ints.map { Int64($0) })
        case .float32: return try createChecksummedDataset(name, shape: shape, values: cells.floats)
        case .float64: return try createChecksummedDataset(name, shape: shape, values: cells.doubles)
        }
    }
}

extension HDF5Dataset {
    /// Appends `cells`, converted to `element`.
    func append(_ cells: Cells, as element: ElementType) throws {
        switch element {
        case .int32: try append(cells.ints.map { Int32($0) })
        case .int64: try append(cells.ints.map { Int64($0) })
        case .float32: try append(cells.floats)
        case .float64: try append(cells.doubles)
        }
    }

    /// Every value, read into the Swift type of `element`.
    func readCells(_ element: ElementType) throws -> Cells {
        switch element {
        case .int32, .int64: return .ints(try read(as: Int.self))
        case .float32: return .floats(try read(as: Float.self))
        case .float64: return .doubles(try read(as: Double.self))
        }
    }
}
