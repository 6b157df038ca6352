/// The merge rules of a byte-level BPE vocabulary and the merge loop, written to give exactly
/// what Hugging Face `tokenizers` gives (its `Word::merge_all`).
///
/// Rules are looked up by the pair of ids they join. The loop keeps a min-heap of candidate
/// merges ordered by (rank, position), pops the best, and skips entries that went stale; like
/// `tokenizers`, an entry counts as stale only when the pair now at its position would make a
/// different id, so the result matches it even when two rules make the same token.
struct BPEMerges: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let rules: [UInt64: UInt64]
    /// The merged id of each rank.
    private let mergedByRank: [Int32]

    var count: Int { mergedByRank.count }

    /// `pairs[r]` is the rule of rank r: (left, right, merged). A pair listed twice keeps its
    /// last rank, as `tokenizers` does (it collects the rules into a map, later ones overwriting).
    init(pairs: [(Int32, Int32, Int32)]) {
        var rules: [UInt64: UInt64] = [:]
        rules.reserveCapacity(pairs.count)
        for (rank, pair) in pairs.enumerated() {
            let key = Self.key(pair.0, pair.1)
            rules[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: pair.2))
        }
        self.rules = rules
        mergedByRank = pairs.map(\.2)
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The rule joining `left` and `right`: its rank and the id it makes.
    @inline(__always)
    func rule(_ left: Int32, _ right: Int32) -> (rank: UInt32, merged: Int32)? {
        guard let value = rules[Self.key(left, right)] else { return nil }
        return (UInt32(value >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
    }

    /// Applies the rules to `symbols` (one id per byte at first) and appends the result to `out`.
    func merge(_ symbols: inout MergeScratch, into out: inout [Int32]) {
        let n = symbols.ids.count
        if n < 2 {
            out.append(contentsOf: symbols.ids)
            return
        }
        symbols.prepare()
        var heap = symbols.heap
        for i in 0..<(n - 1) {
            if let r = rule(symbols.ids[i], symbols.ids[i + 1]) { heap.push(rank: r.rank, position: i) }
        }
        while let (rank, pos) = heap.pop() {
            guard symbols.alive[pos] else { continue }
            let next = symbols.next[pos]
            guard next >= 0, let r = rule(symbols.ids[pos], symbols.ids[next]),
                  r.merged == mergedByRank[Int(rank)] else { continue }
            symbols.ids[pos] = r.merged
            symbols.alive[next] = false
            let after = symbols.next[next]
            symbols.next[pos] = after
            if after >= 0 { symbols.previous[after] = pos }
            let before = symbols.previous[pos]
            if before >= 0, let left = rule(symbols.ids[before], r.merged) { heap.push(rank: left.rank, position: before) }
            if after >= 0, let right = rule(r.merged, symbols.ids[after]) { heap.push(rank: right.rank, position: pos) }
        }
        symbols.heap = heap
        for i in 0..<n where symbols.alive[i] { out.append(symbols.ids[i]) }
    }
}

/// Reusable buffers for `BPEMerges.merge`, so encoding a word allocates nothing once warm.
struct MergeScratch {
    var ids: [Int32] = []
    var previous: [Int] = []
    var next: [Int] = []
    var alive: [Bool] = []
    var heap = MergeHeap()

    mutating func prepare() {
        let n = ids.count
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        alive.removeAll(keepingCapacity: true)
        for i in 0..<n {
            previous.append(i - 1)
            next.append(i + 1 < n ? i + 1 : -1)
            alive.append(true)
        }
        heap.removeAll()
    }
}

/// A binary min-heap of (rank, position) packed into one UInt64, so ties in rank go to the
/// leftmost position.
struct MergeHeap {
    private var items: [UInt64] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(rank: UInt32, position: Int) {
        items.append(UInt64(rank) << 32 | UInt64(position))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> (UInt32, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (UInt32(top >> 32), Int(top & 0xFFFF_FFFF))
    }
}
