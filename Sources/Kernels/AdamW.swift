// AdamW with torch.optim.AdamW's arithmetic (single-tensor path), decay applied to every parameter.

/// One AdamW step over `count` parameters, `step` counting from 1:
/// `p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;`
/// `p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)`.
/// Split across `BLAS.threads` workers (element-wise, so the result does not depend on the split).
public func adamWUpdate(
    params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
    learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int
) {
    Parallel.forRanges((count + 7) / 8, minimumPerWorker: 4096) { _, r in
        let start = r.lowerBound * 8, end = min(count, r.upperBound * 8)
        adamWSerial(params: params + start, grads: grads + start, m: m + start, v: v + start, count: end - start,
                    learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                    weightDecay: weightDecay, step: step)
    }
}

@inline(__always)
func adamWSerial(
    params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
    learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int
) {
    let lr = Double(learningRate), b1 = Double(beta1), b2 = Double(beta2)
    let decay = Float(1 - lr * Double(weightDecay))
    let stepSize = Float(lr / (1 - pow(b1, step)))
    let bc2Sqrt = Float((1 - pow(b2, step)).squareRoot())
    let w1 = 1 - beta1, w2 = 1 - beta2
    let vDecay = Float8(repeating: decay), vW1 = Float8(repeating: w1)
    let vB2 = Float8(repeating: beta2), vW2 = Float8(repeating: w2)
    let vBc2 = Float8(repeating: bc2Sqrt), vEps = Float8(repeating: epsilon), vStep = Float8(repeating: stepSize)
    var i = 0
    while i + 8 <= count {
        let g = load8(grads + i)
        let p = load8(params + i) * vDecay
        var mm = load8(m + i)
        mm = mm + vW1 * (g - mm)
        let vv = load8(v + i) * vB2 + g * g * vW2
        let denom = fastSqrt(vv) / vBc2 + vEps
        store8(p - vStep * (mm / denom), params + i)
        store8(mm, m + i)
        store8(vv, v + i)
        i += 8
    }
    while i < count {
        let g = grads[i]
        let p = params[i] * decay
        m[i] = m[i] + w1 * (g - m[i])
        v[i] = v[i] * beta2 + g * g * w2
        params[i] = p - stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + epsilon))
        i += 1
    }
}

@inline(__always)
private func pow(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<exponent { result *= base }
    return result
}
