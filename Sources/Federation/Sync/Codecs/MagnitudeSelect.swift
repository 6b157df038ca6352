/// Marks the k values of largest magnitude: a radix select on the magnitude's bits (for
/// non-negative floats, bit order is numeric order), so O(n) with no sort.
///
/// One histogram pass over the top 11 bits finds the bucket holding the k-th largest; only that
/// bucket's keys (typically a few percent) are copied out for the two passes over the lower
/// 20 bits, which give the exact cut key. The mask is then "key ≥ cut", branch-free, and only
/// when more values share the cut key than may be kept are the surplus ones, the highest
/// indices, cleared again.
struct MagnitudeSelect {
    private var histogram = [Int](repeating: 0, count: 1 << 11)
    private var candidates: [UInt32] = []

    /// (shift, width) of the digits of the 31-bit magnitude key, most significant first.
    private static let digits: [(shift: UInt32, width: Int)] = [(20, 11), (9, 11), (0, 9)]

    @inline(__always)
    private static func key(_ value: Float) -> UInt32 { value.bitPattern & 0x7FFF_FFFF }

    /// Writes ⌈n/8⌉ mask bytes marking the `keep` largest magnitudes of `values`, ties to the lower index.
    mutating func markLargest(_ values: UnsafeBufferPointer<Float>, keep: Int, mask: UnsafeMutablePointer<UInt8>) {
        let (cut, equal, ties) = keep >= values.count ? (0, values.count, values.count) : threshold(values, keep: keep)
        for j in 0..<(values.count / 8) {
            var byte: UInt8 = 0
            for b in 0..<8 { byte |= (Self.key(values[8 * j + b]) >= cut ? 1 : 0) << UInt8(b) }
            mask[j] = byte
        }
        if values.count % 8 != 0 {
            var byte: UInt8 = 0
            for i in (values.count & ~7)..<values.count { byte |= (Self.key(values[i]) >= cut ? 1 : 0) << UInt8(i & 7) }
            mask[values.count / 8] = byte
        }
        var surplus = equal - ties
        var i = values.count - 1
        while surplus > 0 {
            if Self.key(values[i]) == cut {
                mask[i / 8] &= ~(1 << UInt8(i & 7))
                surplus -= 1
            }
            i -= 1
        }
    }

    /// The cut key (the k-th largest), how many keys equal it, and how many of those are kept.
    private mutating func threshold(_ values: UnsafeBufferPointer<Float>, keep: Int) -> (UInt32, Int, Int) {
        let top = Self.digits[0]
        histogram.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        histogram.withUnsafeMutableBufferPointer { counts in
            for value in values { counts[Int(Self.key(value) >> top.shift)] += 1 }
        }
        var (bucket, remaining) = Self.descend(histogram, buckets: 1 << top.width, remaining: keep)
        var prefix = UInt32(bucket) << top.shift
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(histogram[bucket])
        for value in values where Self.key(value) >> top.shift == UInt32(bucket) { candidates.append(Self.key(value)) }
        var prefixMask = UInt32((1 << top.width) - 1) << top.shift
        var equal = 0
        for digit in Self.digits.dropFirst() {
            let digitMask = UInt32((1 << digit.width) - 1)
            histogram.withUnsafeMutableBufferPointer { counts in
                counts.update(repeating: 0)
                for key in candidates where key & prefixMask == prefix { counts[Int((key >> digit.shift) & digitMask)] += 1 }
            }
            (bucket, remaining) = Self.descend(histogram, buckets: 1 << digit.width, remaining: remaining)
            equal = histogram[bucket]
            prefix |= UInt32(bucket) << digit.shift
            prefixMask |= digitMask << digit.shift
        }
        return (prefix, equal, remaining)
    }

    /// Walks down from the largest bucket to the one holding the `remaining`-th largest key;
    /// returns it and the rank still to find inside it.
    private static func descend(_ counts: [Int], buckets: Int, remaining: Int) -> (Int, Int) {
        var bucket = buckets - 1, remaining = remaining
        while counts[bucket] < remaining {
            remaining -= counts[bucket]
            bucket -= 1
        }
        return (bucket, remaining)
    }
}
