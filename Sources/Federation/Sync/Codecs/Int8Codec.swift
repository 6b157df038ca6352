/// Per-row absmax int8: each row is scaled so its largest magnitude maps to 127, rounded to
/// nearest even, and its fp32 scale (absmax / 127) travels with it.
///
/// Payload: every row's scale (Float32, rows in layout order), then every value's code (Int8, in
/// value order); so 1 byte a value plus 4 a row. The error is at most half a step, absmax/254,
/// per row. A row holding inf or NaN has no finite scale: it is encoded with a NaN scale, which
/// `decode` refuses, so a non-finite upload is rejected rather than silently made finite.
public struct Int8Codec: BlockCodec {
    public init() {}
    public var encoding: BlockEncoding { .int8 }
    public func encodedSize(_ rows: RowLayout) -> Int { rows.count + 4 * rows.rowCount }

    public func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer) {
        guard !values.isEmpty else { return }
        let out = bytes.baseAddress!
        let codes = (out + 4 * rows.rowCount).assumingMemoryBound(to: Int8.self)
        var row = 0, start = 0
        for segment in rows.segments {
            for _ in 0..<segment.rows {
                let scale = Self.encodeRow(values.baseAddress! + start, count: segment.rowLength, codes: codes + start)
                out.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: 4 * row, as: UInt32.self)
                row += 1
                start += segment.rowLength
            }
        }
    }

    /// Writes one row's codes; returns its scale.
    @inline(__always)
    private static func encodeRow(_ source: UnsafePointer<Float>, count: Int, codes: UnsafeMutablePointer<Int8>) -> Float {
        // The largest magnitude, found on the bits: for non-negative floats integer order is
        // numeric order, and an integer max vectorises where a float max (NaN rules) does not.
        var largest: Int32 = 0
        for i in 0..<count {
            largest = Swift.max(largest, Int32(bitPattern: source[i].bitPattern & 0x7FFF_FFFF))
        }
        // Above the largest finite magnitude: an inf or a NaN in the row.
        guard largest <= 0x7F7F_FFFF else {
            codes.update(repeating: 0, count: count)
            return .nan
        }
        let absmax = Float(bitPattern: UInt32(largest))
        let inverse: Float = absmax > 0 ? 127 / absmax : 0
        guard inverse.isFinite else {
            // absmax below about 3.7e-37: 127/absmax overflows fp32, so take these rows through Double.
            // (Their scale is then subnormal or zero, and the error bound is absolute, about 1e-45.)
            for i in 0..<count { codes[i] = Int8((Double(source[i]) * 127 / Double(absmax)).rounded(.toNearestOrEven)) }
            return absmax / 127
        }
        for i in 0..<count {
            // Adding 1.5·2^23 leaves round-to-nearest-even(x) in the low mantissa bits: one add,
            // where `rounded()` would be a library call on x86-64 without SSE4.1. |x| ≤ 127 here.
            let shifted = source[i] * inverse + 12_582_912
            let code = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
            codes[i] = Int8(truncatingIfNeeded: Swift.min(Swift.max(code, -127), 127))
        }
        return absmax / 127
    }

    public func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard !values.isEmpty else { return }
        let source = bytes.baseAddress!
        for row in 0..<rows.rowCount {
            let scale = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * row, as: UInt32.self)))
            guard scale.isFinite, scale >= 0 else {
                throw CodecError.malformed(encoding: "int8", reason: "row \(row) has scale \(scale); "
                    + "scales are finite and non-negative (a non-finite value in that row cannot be encoded)")
            }
        }
        let codes = (source + 4 * rows.rowCount).assumingMemoryBound(to: Int8.self)
        var row = 0, start = 0
        for segment in rows.segments {
            for _ in 0..<segment.rows {
                let scale = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * row, as: UInt32.self)))
                for i in start..<(start + segment.rowLength) { values[i] = Float(codes[i]) * scale }
                row += 1
                start += segment.rowLength
            }
        }
    }
}
