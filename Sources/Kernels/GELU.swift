// GELU with the tanh approximation (Hugging Face "gelu_new"):
// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// The training path keeps the tanh from the forward pass, so the backward pass needs no exponentials.

private let geluScale: Float = 0.797_884_560_802_865_4  // sqrt(2 / pi)
private let geluCubic: Float = 0.044_715

/// Runs `body(start, count)` over 0..<n in chunks of whole vectors split across `BLAS.threads` workers.
@inline(__always)
func elementwise(_ n: Int, _ body: (Int, Int) -> Void) {
    Parallel.forRanges((n + 7) / 8, minimumPerWorker: 2048) { _, r in
        let start = r.lowerBound * 8
        body(start, min(n, r.upperBound * 8) - start)
    }
}

@inline(__always)
func geluTanh(_ x: Float8) -> Float8 {
    fastTanh(Float8(repeating: geluScale) * (x + Float8(repeating: geluCubic) * x * x * x))
}

/// `out[i] = gelu(inp[i])` for i in 0..<n (out may alias inp); with `tanhOut`, also stores the tanh term
/// for `geluBackward(dinp:dout:inp:tanh:count:)`.
public func geluForward(out: UnsafeMutablePointer<Float>, tanhOut: UnsafeMutablePointer<Float>? = nil,
                        inp: UnsafePointer<Float>, count n: Int) {
    let half = Float8(repeating: 0.5), one = Float8(repeating: 1)
    elementwise(n) { start, count in
        let o = out + start, x0 = inp + start, t0 = tanhOut.map { $0 + start }
        var i = 0
        while i + 8 <= count {
            let x = load8(x0 + i), th = geluTanh(x)
            store8(half * x * (one + th), o + i)
            if let t0 { store8(th, t0 + i) }
            i += 8
        }
        if i < count {
            let x = loadPartial8(x0 + i, count - i), th = geluTanh(x)
            storePartial8(half * x * (one + th), o + i, count - i)
            if let t0 { storePartial8(th, t0 + i, count - i) }
        }
    }
}

/// The GELU output again from its input and stored tanh term: `out[i] = 0.5 inp[i] (1 + tanh[i])`.
public func geluFromTanh(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, tanh: UnsafePointer<Float>, count n: Int) {
    let half = Float8(repeating: 0.5), one = Float8(repeating: 1)
    elementwise(n) { start, count in
        let o = out + start, x0 = inp + start, t0 = tanh + start
        var i = 0
        while i + 8 <= count { store8(half * load8(x0 + i) * (one + load8(t0 + i)), o + i); i += 8 }
        while i < count { o[i] = 0.5 * x0[i] * (1 + t0[i]); i += 1 }
    }
}

/// `dinp[i] = dout[i] * gelu'(inp[i])` (overwrites; `dinp` may alias `dout`), recomputing the tanh.
public func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
    elementwise(n) { start, count in
        let d = dinp + start, g = dout + start, x0 = inp + start
        var i = 0
        while i + 8 <= count {
            let x = load8(x0 + i)
            store8(load8(g + i) * geluDerivative(x, geluTanh(x)), d + i)
            i += 8
        }
        if i < count {
            let x = loadPartial8(x0 + i, count - i)
            storePartial8(loadPartial8(g + i, count - i) * geluDerivative(x, geluTanh(x)), d + i, count - i)
        }
    }
}

/// `dinp[i] = dout[i] * gelu'(inp[i])` from the tanh stored by `geluForward` (`dinp` may alias `dout`).
public func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         tanh: UnsafePointer<Float>, count n: Int) {
    elementwise(n) { start, count in
        let d = dinp + start, g = dout + start, x0 = inp + start, t0 = tanh + start
        var i = 0
        while i + 8 <= count {
            store8(load8(g + i) * geluDerivative(load8(x0 + i), load8(t0 + i)), d + i)
            i += 8
        }
        if i < count {
            let n = count - i
            storePartial8(loadPartial8(g + i, n) * geluDerivative(loadPartial8(x0 + i, n), loadPartial8(t0 + i, n)), d + i, n)
        }
    }
}

/// d gelu / dx given x and th = tanh(sqrt(2/pi) (x + 0.044715 x^3)).
@inline(__always)
func geluDerivative(_ x: Float8, _ th: Float8) -> Float8 {
    let s = Float8(repeating: geluScale), c = Float8(repeating: geluCubic)
    let half = Float8(repeating: 0.5), one = Float8(repeating: 1)
    let sech2 = one - th * th
    return half * (one + th) + half * x * sech2 * s * (one + Float8(repeating: 3) * c * x * x)
}
