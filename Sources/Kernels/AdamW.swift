import CKernels

// AdamW with torch.optim.AdamW's arithmetic (single-tensor path), decay applied to every parameter.

/// One AdamW step over `count` parameters, `step` counting from 1:
/// `p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;`
/// `p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)`.
/// Split across `BLAS.threads` workers (element-wise, so the result does not depend on the split).
/// With `zeroingGradients`, `grads` is set to 0 in the same pass, ready for the next accumulation.
public func adamWUpdate(
    params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
    learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int,
    zeroingGradients: Bool = false
) {
    Parallel.forRanges((count + 15) / 16, minimumPerWorker: 2048) { _, r in
        let start = r.lowerBound * 16, end = min(count, r.upperBound * 16)
        fk_adamw(params + start, grads + start, m + start, v + start, end - start,
                 learningRate, beta1, beta2, epsilon, weightDecay, step, zeroingGradients ? 1 : 0)
    }
}
