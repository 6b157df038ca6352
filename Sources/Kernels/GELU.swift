import CKernels

// GELU with the tanh approximation (Hugging Face "gelu_new"):
// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// The backward pass recomputes the tanh from the input: storing it would cost a buffer per layer and
// a pass to rebuild the output from it, more than the exponentials (docs/PERFORMANCE.md).
// The arithmetic is in CKernels, compiled for each vector width; here the work is split across threads.

/// Runs `body(start, count)` over 0..<n in chunks of whole 16-float vectors split across `BLAS.threads` workers.
@inline(__always)
func elementwise(_ n: Int, _ body: (Int, Int) -> Void) {
    Parallel.forRanges((n + 15) / 16, minimumPerWorker: 1024) { _, r in
        let start = r.lowerBound * 16
        body(start, min(n, r.upperBound * 16) - start)
    }
}

/// `out[i] = gelu(inp[i])` for i in 0..<n (out may alias inp).
public func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
    elementwise(n) { start, count in fk_gelu_forward(out + start, inp + start, count) }
}

/// `dinp[i] = dout[i] * gelu'(inp[i])` (overwrites; `dinp` may alias `dout`), recomputing the tanh.
public func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
    elementwise(n) { start, count in fk_gelu_backward(dinp + start, dout + start, inp + start, count) }
}

/// `out[i] = e^inp[i]` with the kernels' own exponential (inputs clamped to [-87.3, 88]); for tests.
public func fastExp(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
    fk_exp(out, inp, n)
}
