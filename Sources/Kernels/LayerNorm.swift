import CKernels

// LayerNorm over the last dimension, saving each row's mean and 1/std for the backward pass.
// The arithmetic is in CKernels; here rows (or columns) are split across threads.

/// `out[r, :] = (inp[r, :] - mean_r) * rstd_r * weight + bias`, with the biased variance and `eps` inside the root.
public func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
) {
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        fk_layernorm_forward(out, mean, rstd, inp, weight, bias, range.lowerBound, range.upperBound, dim, eps)
    }
}

/// Backward of `layerNormForward`. `dinp` is accumulated into (it is the residual stream's gradient);
/// `dweight`/`dbias` are accumulated when given. Pass nil for what is not needed. Rows (for `dinp`) and
/// columns (for `dweight`/`dbias`, summed over rows in order) are split across `BLAS.threads` workers.
public func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int
) {
    if let dweight, let dbias {
        Parallel.forRanges((dim + 15) / 16, minimumPerWorker: 4) { _, range in
            fk_layernorm_param_grad(dweight, dbias, dout, inp, mean, rstd, rows, dim,
                                    range.lowerBound * 16, min(dim, range.upperBound * 16))
        }
    }
    guard let dinp else { return }
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        fk_layernorm_input_grad(dinp, dout, inp, weight, mean, rstd, range.lowerBound, range.upperBound, dim)
    }
}
