/// Appends little-endian fixed-width values to a byte array, for the round and upload headers.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Float) { write(value.bitPattern) }
    mutating func write(_ value: Double) { write(value.bitPattern) }

    mutating func write(bytes more: [UInt8]) { bytes.append(contentsOf: more) }

    mutating func write(floats: UnsafeBufferPointer<Float>) {
        // Floats are stored in the host's order; every supported host is little-endian.
        bytes.append(contentsOf: UnsafeRawBufferPointer(floats))
    }
}

/// Reads what `ByteWriter` wrote, refusing to read past the end.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw WireError.truncated(needed: size, remaining: remaining) }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { target in
            bytes.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + size)]))
            }
        }
        offset += size
        return T(littleEndian: value)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// Hands the next `count` bytes to `body` without copying them, then moves past them.
    mutating func withBytes<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard count >= 0, remaining >= count else { throw WireError.truncated(needed: count, remaining: remaining) }
        let result = try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
        offset += count
        return result
    }

    /// Copies `count` floats into `target`.
    mutating func readFloats(into target: UnsafeMutableBufferPointer<Float>) throws {
        let size = target.count * MemoryLayout<Float>.size
        guard remaining >= size else { throw WireError.truncated(needed: size, remaining: remaining) }
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(target).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + size)]))
        }
        offset += size
    }
}

/// A message that does not decode.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case truncated(needed: Int, remaining: Int)
    case badValue(String)

    public var description: String {
        switch self {
        case let .truncated(needed, remaining):
            return "message truncated: needed \(needed) more bytes, \(remaining) left; every rank must run the same program version"
        case let .badValue(what):
            return "message has a bad value: \(what); every rank must run the same program version and job"
        }
    }
}
