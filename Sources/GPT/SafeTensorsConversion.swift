import Foundation

/// Widening of half-precision tensors (IEEE binary16 and bfloat16) to fp32, exact for every bit
/// pattern. The loops are branch-free so that the compiler vectorizes them: checkpoints hold
/// hundreds of millions of values.
enum HalfPrecision {
    /// The fp32 bits of one binary16 value. Subnormals, infinities and NaN payloads are kept;
    /// a signalling NaN comes back quiet, as x86's conversion instruction and torch's `.float()` give it.
    @inline(__always)
    static func float32Bits(binary16 h: UInt16) -> UInt32 {
        let bits = UInt32(h)
        let sign = (bits & 0x8000) << 16
        let magnitude = (bits & 0x7fff) << 13  // exponent and mantissa moved to their fp32 places
        let exponent = magnitude & 0x0f80_0000
        let normal = magnitude &+ 0x3800_0000  // exponent bias 15 becomes 127
        let quietBit: UInt32 = (magnitude & 0x007f_ffff) != 0 ? 0x0040_0000 : 0
        let infinityOrNaN = (normal &+ 0x3800_0000) | quietBit
        // A subnormal m·2^-24 is (2^-14 + m·2^-24) - 2^-14; both steps are exact in fp32.
        let subnormal = (Float(bitPattern: normal &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        let body = exponent == 0x0f80_0000 ? infinityOrNaN : (exponent == 0 ? subnormal : normal)
        return sign | body
    }

    /// Converts little-endian binary16 values in `source` into `destination`, one for each.
    static func widenBinary16(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == 2 * destination.count, "binary16 source holds \(source.count) bytes for \(destination.count) values")
        for i in 0..<destination.count {
            let h = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: float32Bits(binary16: h))
        }
    }

    /// Converts little-endian bfloat16 values in `source` into `destination`: bfloat16 is the high
    /// half of an fp32, so every value (NaNs included) widens unchanged.
    static func widenBFloat16(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == 2 * destination.count, "bfloat16 source holds \(source.count) bytes for \(destination.count) values")
        for i in 0..<destination.count {
            let h = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: UInt32(h) << 16)
        }
    }
}
