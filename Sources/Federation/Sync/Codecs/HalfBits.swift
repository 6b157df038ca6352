/// The 16-bit conversions, written with selects instead of branches so the loops vectorise.
enum HalfBits {
    /// fp32 → fp16 bits, round to nearest even (after F. Giesen's `float_to_half_fast3_rtne`).
    @inline(__always)
    static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = bits & 0x8000_0000
        let magnitude = bits ^ sign
        // ≥ 65536: inf, or quiet NaN. Values in [65520, 65536) reach inf in the normal path below.
        let special: UInt32 = magnitude > 0x7F80_0000 ? 0x7E00 : 0x7C00
        // < 2^-14: adding 0.5 lines the 10 subnormal mantissa bits up at the bottom, and the
        // float addition itself rounds to nearest even.
        let subnormal = (Float(bitPattern: magnitude) + 0.5).bitPattern &- 0x3F00_0000
        // Normal: rebias the exponent and round on bit 13, ties to the even result.
        let odd = (magnitude >> 13) & 1
        let normal = (magnitude &+ 0xC800_0FFF &+ odd) >> 13
        let result = magnitude >= 0x4780_0000 ? special : (magnitude < 0x3880_0000 ? subnormal : normal)
        return UInt16(truncatingIfNeeded: result | (sign >> 16))
    }

    /// fp16 bits → fp32, exact (every half is a float).
    @inline(__always)
    static func toFloat(_ half: UInt16) -> Float {
        let h = UInt32(half)
        let shifted = (h & 0x7FFF) << 13
        let exponent = shifted & 0x0F80_0000
        let rebiased = shifted &+ 0x3800_0000
        // Inf and NaN: push the exponent on to all ones.
        let special = rebiased &+ 0x3800_0000
        // Zero and subnormals: make it a normal number one exponent up, then subtract that 2^-14.
        let subnormal = (Float(bitPattern: rebiased &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        let magnitude = exponent == 0x0F80_0000 ? special : (exponent == 0 ? subnormal : rebiased)
        return Float(bitPattern: magnitude | ((h & 0x8000) << 16))
    }

    /// fp32 → bf16 bits, round to nearest even; NaN stays a quiet NaN with its sign.
    @inline(__always)
    static func bfloatFromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let isNaN = (bits & 0x7FFF_FFFF) > 0x7F80_0000
        return UInt16(truncatingIfNeeded: isNaN ? (bits >> 16) | 0x0040 : rounded)
    }
}
