#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Vectorised math on 8-wide float vectors: the exponential and tanh used by softmax,
/// cross-entropy and GELU. Accurate to a few ulp, branch-free, and far faster than libm per element.
public typealias Float8 = SIMD8<Float>

@inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always)
public func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// Loads `count` (< 8) floats, padding the rest of the vector with `fill`.
@inline(__always)
public func loadPartial8(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> Float8 {
    var v = Float8(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the first `count` (< 8) lanes.
@inline(__always)
public func storePartial8(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

@inline(__always)
public func horizontalSum(_ v: Float8) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    return b[0] + b[1]
}

@inline(__always)
public func horizontalMax(_ v: Float8) -> Float {
    let a = pointwiseMaxFast(v.lowHalf, v.highHalf)
    return Swift.max(Swift.max(a[0], a[1]), Swift.max(a[2], a[3]))
}

// Swift's SIMD comparisons build their masks lane by lane through memory, so min/max go through
// SSE intrinsics on x86 (maxps/minps: the second operand is returned when either is NaN).

@inline(__always)
public func pointwiseMaxFast(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
    #if arch(x86_64)
    return _mm_max_ps(a, b)
    #else
    return pointwiseMax(a, b)
    #endif
}

@inline(__always)
public func pointwiseMinFast(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
    #if arch(x86_64)
    return _mm_min_ps(a, b)
    #else
    return pointwiseMin(a, b)
    #endif
}

@inline(__always)
public func pointwiseMaxFast(_ a: Float8, _ b: Float8) -> Float8 {
    Float8(lowHalf: pointwiseMaxFast(a.lowHalf, b.lowHalf), highHalf: pointwiseMaxFast(a.highHalf, b.highHalf))
}

@inline(__always)
public func pointwiseMinFast(_ a: Float8, _ b: Float8) -> Float8 {
    Float8(lowHalf: pointwiseMinFast(a.lowHalf, b.lowHalf), highHalf: pointwiseMinFast(a.highHalf, b.highHalf))
}

/// e^x, Cephes-style: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r, and 2^n built
/// from the exponent bits. Inputs are clamped to [-87.3, 88], so the result is finite and positive.
@inline(__always)
public func fastExp(_ input: Float8) -> Float8 {
    let x = pointwiseMaxFast(pointwiseMinFast(input, Float8(repeating: 88.0)), Float8(repeating: -87.3))
    // Round x*log2(e) to the nearest integer by adding 1.5 * 2^23: the low mantissa bits of t hold n.
    let magic = Float8(repeating: 12_582_912.0)
    let t = x * Float8(repeating: 1.442_695_04) + magic
    let n = t - magic
    var r = x - n * Float8(repeating: 0.693_359_375)
    r = r - n * Float8(repeating: -2.121_944_4e-4)
    var p = Float8(repeating: 1.987_569_15e-4)
    p = p * r + Float8(repeating: 1.398_199_950_7e-3)
    p = p * r + Float8(repeating: 8.333_451_907_3e-3)
    p = p * r + Float8(repeating: 4.166_579_589_4e-2)
    p = p * r + Float8(repeating: 1.666_666_545_9e-1)
    p = p * r + Float8(repeating: 5.000_000_120_1e-1)
    let y = p * (r * r) + r + Float8(repeating: 1)
    let bits = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &<< 23) &+ SIMD8<UInt32>(repeating: 0x3F80_0000)
    return y * unsafeBitCast(bits, to: Float8.self)
}

/// tanh(x) = 1 - 2 / (e^(2x) + 1); absolute error about 1e-7.
@inline(__always)
public func fastTanh(_ x: Float8) -> Float8 {
    let e = fastExp(x + x)
    return Float8(repeating: 1) - Float8(repeating: 2) / (e + Float8(repeating: 1))
}

/// Scalar e^x through the same vector code, so tails agree with the vector body.
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    fastExp(Float8(repeating: x))[0]
}

/// Lane-wise square root. (Swift's `SIMD.squareRoot()` goes through libm one lane at a time.)
@inline(__always)
public func fastSqrt(_ x: Float8) -> Float8 {
    #if arch(x86_64)
    let lo = _mm_sqrt_ps(x.lowHalf), hi = _mm_sqrt_ps(x.highHalf)
    return Float8(lowHalf: lo, highHalf: hi)
    #else
    return x.squareRoot()
    #endif
}
