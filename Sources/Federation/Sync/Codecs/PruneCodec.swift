/// Magnitude pruning to density d: each tensor keeps its `keptCount(n)` = ⌈d·n⌉ values of largest
/// magnitude, exactly as fp32, and the rest decode as zero.
///
/// Per tensor rather than over the whole block, so every tensor keeps the same fraction whatever
/// its scale (a block-wide pool would keep every LayerNorm gain and drop whole weight matrices).
/// Ties in magnitude go to the lower index, so the kept set is a pure function of the values
/// (+0 and -0 tie; NaN counts as larger than inf, so it is kept and the receiver's checks see it).
///
/// Payload: the kept values of every tensor (fp32, tensor by tensor, in index order), then one
/// bitmask per tensor (⌈n/8⌉ bytes, bit i of byte j for value 8j + i, spare bits zero).
public struct PruneCodec: BlockCodec {
    public let density: Double

    public init(density: Double) {
        precondition(density > 0 && density <= 1, "prune density must be in (0, 1], got \(density)")
        self.density = density
    }

    public var encoding: BlockEncoding { .prune(density: density) }

    /// ⌈density·n⌉, except that a product within 1e-9 (relative) of a whole number counts as that
    /// number, so decimal densities like 0.7 of 100 keep 70, not 71.
    public func keptCount(_ n: Int) -> Int {
        let exact = density * Double(n)
        let nearest = exact.rounded()
        let kept = Swift.abs(exact - nearest) <= 1e-9 * Swift.max(1, exact) ? nearest : exact.rounded(.up)
        return Swift.min(n, Int(kept))
    }

    public func encodedSize(_ rows: RowLayout) -> Int {
        rows.segments.reduce(0) { $0 + 4 * keptCount($1.count) + ($1.count + 7) / 8 }
    }

    public func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer) {
        guard !values.isEmpty else { return }
        let out = bytes.baseAddress!
        var valueOffset = 0
        var maskOffset = rows.segments.reduce(0) { $0 + 4 * keptCount($1.count) }
        var start = 0
        var select = MagnitudeSelect()
        for segment in rows.segments {
            let tensor = UnsafeBufferPointer(rebasing: values[start..<(start + segment.count)])
            let kept = keptCount(segment.count)
            let mask = (out + maskOffset).assumingMemoryBound(to: UInt8.self)
            select.markLargest(tensor, keep: kept, mask: mask)
            Self.gather(tensor, mask: mask, into: out + valueOffset)
            valueOffset += 4 * kept
            maskOffset += (segment.count + 7) / 8
            start += segment.count
        }
    }

    /// Copies the values the mask marks, in index order.
    private static func gather(_ tensor: UnsafeBufferPointer<Float>, mask: UnsafePointer<UInt8>, into values: UnsafeMutableRawPointer) {
        var written = 0
        for j in 0..<((tensor.count + 7) / 8) {
            var bits = mask[j]
            while bits != 0 {
                let value = tensor[8 * j + bits.trailingZeroBitCount]
                values.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * written, as: UInt32.self)
                written += 1
                bits &= bits - 1
            }
        }
    }

    public func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard !values.isEmpty else { return }
        let source = bytes.baseAddress!
        let masks = (source + rows.segments.reduce(0) { $0 + 4 * keptCount($1.count) }).assumingMemoryBound(to: UInt8.self)
        try validateMasks(masks, rows: rows)
        values.update(repeating: 0)
        var valueOffset = 0, maskOffset = 0, start = 0
        for segment in rows.segments {
            for j in 0..<((segment.count + 7) / 8) {
                var bits = masks[maskOffset + j]
                while bits != 0 {
                    let i = start + 8 * j + bits.trailingZeroBitCount
                    values[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: valueOffset, as: UInt32.self)))
                    valueOffset += 4
                    bits &= bits - 1
                }
            }
            maskOffset += (segment.count + 7) / 8
            start += segment.count
        }
    }

    /// Every mask must mark exactly the tensor's kept count and leave its spare bits clear;
    /// otherwise the values section would be read out of step.
    private func validateMasks(_ masks: UnsafePointer<UInt8>, rows: RowLayout) throws {
        var maskOffset = 0
        for (index, segment) in rows.segments.enumerated() {
            let length = (segment.count + 7) / 8
            var marked = 0
            for j in 0..<length { marked += masks[maskOffset + j].nonzeroBitCount }
            let spare = segment.count & 7
            if spare != 0, masks[maskOffset + length - 1] >> UInt8(spare) != 0 {
                throw CodecError.malformed(encoding: encoding.description, reason: "tensor \(index)'s mask sets bits past its \(segment.count) values")
            }
            guard marked == keptCount(segment.count) else {
                throw CodecError.malformed(encoding: encoding.description,
                                           reason: "tensor \(index)'s mask marks \(marked) values, expected \(keptCount(segment.count))")
            }
            maskOffset += length
        }
    }
}
