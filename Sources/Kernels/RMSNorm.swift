import CKernels

// RMSNorm over the last dimension (Hugging Face LlamaRMSNorm), saving each row's 1/rms for the backward
// pass. The arithmetic is in CKernels; here rows (or columns) are split across threads.

/// `out[r, :] = inp[r, :] * rstd[r] * weight`, `rstd[r] = 1 / sqrt(mean_j inp[r, j]^2 + eps)`; saves `rstd`.
public func rmsNormForward(
    out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
) {
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        fk_rmsnorm_forward(out, rstd, inp, weight, range.lowerBound, range.upperBound, dim, eps)
    }
}

/// Backward of `rmsNormForward`. `dinp` is accumulated into (it is the residual stream's gradient) and
/// `dweight` is accumulated, each when given. Rows (for `dinp`) and columns (for `dweight`, summed over rows
/// in order, so the result does not depend on the thread count) are split across `BLAS.threads` workers.
public func rmsNormBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int
) {
    if let dweight {
        Parallel.forRanges((dim + 15) / 16, minimumPerWorker: 4) { _, range in
            fk_rmsnorm_param_grad(dweight, dout, inp, rstd, rows, dim, range.lowerBound * 16, min(dim, range.upperBound * 16))
        }
    }
    guard let dinp else { return }
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        fk_rmsnorm_input_grad(dinp, dout, inp, weight, rstd, range.lowerBound, range.upperBound, dim)
    }
}
