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
