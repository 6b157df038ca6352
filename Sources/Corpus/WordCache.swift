/// Remembers the ids of every pre-token already encoded, keyed by its bytes.
///
/// Natural text repeats a small set of words, so after a warm-up almost every pre-token is a
/// hit and encoding costs one hash and one compare per word. A hand-rolled open-addressing
/// table, because Swift's `Dictionary` would need an `Array` key (an allocation per lookup)
/// and hashes byte by byte with SipHash.
struct WordCache {
    private struct Entry {
        var hash: UInt64
        var keyStart: Int
        var keyCount: Int
        var idStart: Int
        var idCount: Int
    }

    private var slots: [Int32]
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []
    private var ids: [Int32] = []
    /// Past this many entries the cache starts over, so a huge corpus cannot grow it without bound.
    private let capacityLimit: Int

    init(capacityLimit: Int = 1 << 20) {
        self.capacityLimit = capacityLimit
        slots = [Int32](repeating: -1, count: 1 << 12)
    }

    var count: Int { entries.count }

    /// FNV-1a, 64-bit: cheap on short keys, which pre-tokens are.
    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    /// Appends the cached ids of `word` to `out` and returns true, or returns false on a miss.
    @inline(__always)
    func append(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, to out: inout [Int32]) -> Bool {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { return false }
            let entry = entries[index]
            if entry.hash == hash && entry.keyCount == word.count && matches(entry, word) {
                out.append(contentsOf: ids[entry.idStart..<(entry.idStart + entry.idCount)])
                return true
            }
            slot = (slot + 1) & mask
        }
    }

    private func matches(_ entry: Entry, _ word: UnsafeBufferPointer<UInt8>) -> Bool {
        keyBytes.withUnsafeBufferPointer { keys in
            for k in 0..<word.count where keys[entry.keyStart + k] != word[k] { return false }
            return true
        }
    }

    /// Remembers that `word` encodes to `result`.
    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, result: ArraySlice<Int32>) {
        if entries.count >= capacityLimit { self = WordCache(capacityLimit: capacityLimit) }
        if 2 * (entries.count + 1) > slots.count { grow() }
        entries.append(Entry(hash: hash, keyStart: keyBytes.count, keyCount: word.count, idStart: ids.count, idCount: result.count))
        keyBytes.append(contentsOf: word)
        ids.append(contentsOf: result)
        place(entries.count - 1)
    }

    private mutating func place(_ index: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: entries[index].hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for index in entries.indices { place(index) }
    }
}
