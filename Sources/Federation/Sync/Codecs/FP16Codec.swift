/// IEEE half precision: 2 bytes a value, round to nearest even.
///
/// Values beyond ±65504 (from 65520 up, where rounding carries past the largest half) become
/// ±inf, NaN stays NaN (quiet, sign kept), and values below 2^-14 become half subnormals or zero.
/// The conversion is done on the bits rather than through Swift's `Float16`, which does not exist
/// on Intel Macs and goes through a library call per value on x86-64 Linux without F16C; the tests
/// check it against `Float16` over every half and a sweep of floats.
public struct FP16Codec: BlockCodec {
    public init() {}
    public var encoding: BlockEncoding { .fp16 }
    public func encodedSize(_ rows: RowLayout) -> Int { rows.count * 2 }

    public func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer) {
        guard !values.isEmpty else { return }
        let out = bytes.baseAddress!
        for i in 0..<values.count {
            out.storeBytes(of: HalfBits.fromFloat(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
    }

    public func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard !values.isEmpty else { return }
        let source = bytes.baseAddress!
        for i in 0..<values.count {
            values[i] = HalfBits.toFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }
}
