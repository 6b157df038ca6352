/// Fixed-length training rows of instruction data: inputs and targets, row-major
/// `[count, sequence]` Int32, where a negative target is a position the loss ignores (prompt
/// tokens and padding).
///
/// A row holds whole records, at most sequence + 1 tokens of them: input j is token j and
/// target j is token j + 1 when that token is counted (`TokenizedRecord.counted`), else -1.
/// Inputs past the last record are the end-of-sequence id (padding), with ignored targets, so
/// padding never counts in the loss nor in the token totals. Records that share a row attend
/// to the ones before them, as in every packed fine-tuning set-up without attention masks.
public struct TokenRows: Sendable, Equatable {
    public let sequence: Int
    public private(set) var inputs: [Int32] = []
    public private(set) var targets: [Int32] = []
    /// Per row, how many targets the loss counts.
    public private(set) var counted: [Int] = []

    /// The number of rows.
    public var count: Int { counted.count }
    /// Targets the loss counts in every row together.
    public var countedTotal: Int { counted.reduce(0, +) }

    public init(sequence: Int) {
        precondition(sequence > 0, "sequence must be positive")
        self.sequence = sequence
    }

    /// Builds rows from `records`: with `pack`, first fit in record order (each record goes into
    /// the first row with room for it, so a row's records stay in file order); else one record
    /// per row. Every record must hold at most sequence + 1 tokens.
    public init(records: [TokenizedRecord], sequence: Int, pack: Bool, padding: TokenID) {
        self.init(sequence: sequence)
        for row in Self.members(records: records, sequence: sequence, pack: pack) { append(row.map { records[$0] }, padding: padding) }
    }

    /// Which records (indices into `records`) each row holds, in row order, as `init` packs them.
    static func members(records: [TokenizedRecord], sequence: Int, pack: Bool) -> [[Int]] {
        var members: [[Int]] = []
        var room = FirstFit(capacity: records.count, rowLength: sequence + 1)
        for (index, record) in records.enumerated() {
            precondition(record.tokens.count <= sequence + 1, "record at line \(record.line) is longer than a row")
            let row = pack ? room.place(record.tokens.count) : room.open(record.tokens.count)
            if row == members.count { members.append([]) }
            members[row].append(index)
        }
        return members
    }

    /// Per target position of the rows `init(records:sequence:pack:padding:)` builds (row-major
    /// `[count, sequence]`): the index into `records` of the record whose token the target is,
    /// or -1 where the target is ignored. For losses per record or per task.
    public static func targetOwners(records: [TokenizedRecord], sequence: Int, pack: Bool) -> [Int32] {
        var owners: [Int32] = []
        for row in members(records: records, sequence: sequence, pack: pack) {
            var flags: [Int32] = []
            for index in row { flags += records[index].counted.map { $0 ? Int32(index) : -1 } }
            for j in 0..<sequence { owners.append(j + 1 < flags.count ? flags[j + 1] : -1) }
        }
        return owners
    }

    /// One row of `records` (together at most sequence + 1 tokens), padded.
    mutating func append(_ records: [TokenizedRecord], padding: TokenID) {
        let tokens = records.flatMap(\.tokens), flags = records.flatMap(\.counted)
        var rowCounted = 0
        for j in 0..<sequence {
            inputs.append(j < tokens.count ? tokens[j] : padding)
            let counts = j + 1 < tokens.count && flags[j + 1]
            targets.append(counts ? tokens[j + 1] : -1)
            if counts { rowCounted += 1 }
        }
        counted.append(rowCounted)
    }

    /// These rows followed by `other`'s (same sequence length).
    public func appending(_ other: TokenRows) -> TokenRows {
        precondition(other.sequence == sequence, "rows of different lengths")
        var joined = self
        joined.inputs += other.inputs
        joined.targets += other.targets
        joined.counted += other.counted
        return joined
    }

    /// The rows at `indices` as one batch; `nil` indices are filler rows whose targets are all
    /// ignored (they add nothing to a loss), for a last batch the rows do not fill.
    public func gather(_ indices: [Int?]) -> (inputs: [Int32], targets: [Int32]) {
        var batchInputs: [Int32] = []
        var batchTargets: [Int32] = []
        batchInputs.reserveCapacity(indices.count * sequence)
        batchTargets.reserveCapacity(indices.count * sequence)
        for index in indices {
            guard let row = index else {
                batchInputs += [Int32](repeating: inputs.first ?? 0, count: sequence)
                batchTargets += [Int32](repeating: -1, count: sequence)
                continue
            }
            batchInputs += inputs[(row * sequence)..<((row + 1) * sequence)]
            batchTargets += targets[(row * sequence)..<((row + 1) * sequence)]
        }
        return (batchInputs, batchTargets)
    }
}

/// First-fit bin packing in O(log rows) per record: a max tree over the rows' free room.
struct FirstFit {
    private var tree: [Int]
    private let leaves: Int
    private let rowLength: Int
    /// Rows opened so far.
    private(set) var rows = 0

    init(capacity: Int, rowLength: Int) {
        var size = 1
        while size < max(capacity, 1) { size *= 2 }
        leaves = size
        self.rowLength = rowLength
        tree = [Int](repeating: 0, count: 2 * size)
    }

    /// The first row with room for `length` tokens (a new one if none), which then holds them.
    mutating func place(_ length: Int) -> Int {
        guard tree[1] >= length else { return open(length) }
        var node = 1
        while node < leaves { node = tree[2 * node] >= length ? 2 * node : 2 * node + 1 }
        set(node - leaves, tree[node] - length)
        return node - leaves
    }

    /// A new row holding `length` tokens.
    mutating func open(_ length: Int) -> Int {
        rows += 1
        set(rows - 1, rowLength - length)
        return rows - 1
    }

    private mutating func set(_ row: Int, _ room: Int) {
        var node = row + leaves
        tree[node] = room
        while node > 1 {
            node /= 2
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
        }
    }
}

extension BatchSampler {
    /// Which rows a training batch takes: uniform, with replacement, from the same
    /// (seed, round, client, step) stream as text windows.
    public static func trainingRowIndices(rowCount: Int, batch: Int, seed: UInt64, round: Int, client: Int, step: Int) -> [Int] {
        precondition(rowCount > 0, "a client needs at least one row")
        // A text of rowCount + sequence tokens has rowCount window starts, the same draws.
        return trainingWindowStarts(tokenCount: rowCount + 1, batch: batch, sequence: 1,
                                    seed: seed, round: round, client: client, step: step)
    }

    /// A training batch of rows, drawn as `trainingRowIndices` says.
    public static func trainingBatch(rows: TokenRows, batch: Int, seed: UInt64, round: Int, client: Int,
                                     step: Int) -> (inputs: [Int32], targets: [Int32]) {
        rows.gather(trainingRowIndices(rowCount: rows.count, batch: batch, seed: seed, round: round, client: client, step: step))
    }

    /// Fixed evaluation batches of rows: up to `maxBatches · batch` rows spread evenly over all
    /// of them (every row when they fit), the last batch filled with ignored rows.
    public static func validationRowIndices(rowCount: Int, batch: Int, maxBatches: Int) -> [[Int?]] {
        precondition(batch > 0, "batch must be positive")
        let used = min(rowCount, max(maxBatches, 0) * batch)
        guard used > 0 else { return [] }
        let chosen: [Int?] = (0..<used).map { $0 * rowCount / used }
        return stride(from: 0, to: used, by: batch).map { start in
            Array(chosen[start..<min(start + batch, used)]) + [Int?](repeating: nil, count: max(0, start + batch - used))
        }
    }
}
