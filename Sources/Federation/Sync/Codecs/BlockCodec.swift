/// Turns a block's fp32 values into bytes and back: the download codecs for frozen blocks and
/// the upload codecs for a trained block's delta.
///
/// The payload has no header: both ends know the codec and the row layout from the job and the
/// model, so the payload's size is a pure function of them (`encodedSize`), and that size is what
/// the byte accounting charges. Implementations fill these two primitives; callers use the
/// checked `encode`/`decode` entry points in the extension below.
public protocol BlockCodec: Sendable {
    /// The job-file value this codec implements.
    var encoding: BlockEncoding { get }

    /// Exact payload size for values laid out as `rows`.
    func encodedSize(_ rows: RowLayout) -> Int

    /// Writes the payload of `values` into `bytes`.
    /// Callers guarantee `values.count == rows.count` and `bytes.count == encodedSize(rows)`.
    func encodePayload(_ values: UnsafeBufferPointer<Float>, rows: RowLayout, into bytes: UnsafeMutableRawBufferPointer)

    /// Reads a payload into `values`. Callers guarantee the two sizes, as for `encodePayload`.
    /// Must check everything else about the payload before writing, so a throw leaves `values` untouched.
    func decodePayload(_ bytes: UnsafeRawBufferPointer, rows: RowLayout, into values: UnsafeMutableBufferPointer<Float>) throws
}

extension BlockCodec {
    /// Encodes `values`, tensor by tensor as `rows` says, into exactly `encodedSize(rows)` bytes.
    public func encode(values: UnsafeBufferPointer<Float>, rows: RowLayout) -> [UInt8] {
        precondition(values.count == rows.count, "\(values.count) values for a layout of \(rows.count)")
        let size = encodedSize(rows)
        // Uninitialised capacity: the encoder writes every byte, so zero-filling first would be wasted work.
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            encodePayload(values, rows: rows, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = size
        }
    }

    /// Encodes `values` as one tensor of rows of `rowLength`.
    public func encode(values: UnsafeBufferPointer<Float>, rowLength: Int) -> [UInt8] {
        encode(values: values, rows: .uniform(count: values.count, rowLength: rowLength))
    }

    /// Decodes `bytes` into `values`. Throws, leaving `values` untouched, when the size is not
    /// exactly `encodedSize(rows)` or the payload is malformed.
    public func decode(_ bytes: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>, rows: RowLayout) throws {
        guard values.count == rows.count else {
            throw CodecError.countMismatch(encoding: encoding.description, layout: rows.count, target: values.count)
        }
        let expected = encodedSize(rows)
        guard bytes.count == expected else {
            throw CodecError.sizeMismatch(encoding: encoding.description, values: rows.count,
                                          expected: expected, received: bytes.count)
        }
        try decodePayload(bytes, rows: rows, into: values)
    }

    public func decode(_ bytes: [UInt8], into values: UnsafeMutableBufferPointer<Float>, rows: RowLayout) throws {
        try bytes.withUnsafeBytes { try decode($0, into: values, rows: rows) }
    }

    public func decode(_ bytes: [UInt8], into values: UnsafeMutableBufferPointer<Float>, rowLength: Int) throws {
        try decode(bytes, into: values, rows: .uniform(count: values.count, rowLength: rowLength))
    }

    /// Payload size of `count` values in rows of `rowLength`.
    public func encodedSize(count: Int, rowLength: Int) -> Int {
        encodedSize(.uniform(count: count, rowLength: rowLength))
    }
}
