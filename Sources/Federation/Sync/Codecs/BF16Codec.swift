/// bfloat16: fp32's sign, exponent and top 7 mantissa bits, 2 bytes a value, round to nearest even.
/// Same range as fp32, so only values within half a bf16 step of fp32's maximum overflow to inf.
public struct BF16Codec: BlockCodec {
    public init() {}
    public var encoding: BlockEncoding { .bf16 }
    public func encodedSize(_ rows: RowLayout) -> Int { rows.count * 2 }

    public func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer) {
        guard !values.isEmpty else { return }
        let out = bytes.baseAddress!
        for i in 0..<values.count {
            out.storeBytes(of: HalfBits.bfloatFromFloat(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
    }

    public func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard !values.isEmpty else { return }
        let source = bytes.baseAddress!
        for i in 0..<values.count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            values[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }
}
