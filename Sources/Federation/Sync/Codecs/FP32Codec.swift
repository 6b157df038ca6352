/// Exact fp32, the values' own bytes: the default, and what the trained block always travels as.
public struct FP32Codec: BlockCodec {
    public init() {}
    public var encoding: BlockEncoding { .fp32 }
    public func encodedSize(_ rows: RowLayout) -> Int { rows.count * 4 }

    public func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer) {
        // Every supported host is little-endian, as the rest of the wire format assumes.
        guard !values.isEmpty else { return }
        bytes.baseAddress!.copyMemory(from: values.baseAddress!, byteCount: values.count * 4)
    }

    public func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard !values.isEmpty else { return }
        UnsafeMutableRawPointer(values.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }
}
