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
