import CKernels

// Dense layers in Hugging Face Conv1D layout: weight is [in, out], so y = x W + b needs no transposes.

/// `out[rows, outDim] = inp[rows, inDim] @ weight[inDim, outDim] (+ bias) (+ residual)`.
///
/// With `residual`, the layer's output is added to the residual stream in the same pass
/// (the output rows start as `residual + bias` and sgemm accumulates into them).
public func matmulForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int,
    residual: UnsafePointer<Float>? = nil
) {
    PhaseTimes.time(.dense) {
        var beta: Float = 0
        if residual != nil || bias != nil {
            Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
                for r in range {
                    let o = out + r * outDim
                    if let residual {
                        let s = residual + r * outDim
                        if let bias { addVectors(o, s, bias, outDim) } else { o.update(from: s, count: outDim) }
                    } else if let bias {
                        o.update(from: bias, count: outDim)
                    }
                }
            }
            beta = 1
        }
        parallelSgemm(transA: false, transB: false, m: rows, n: outDim, k: inDim,
                      a: inp, lda: inDim, b: weight, ldb: outDim, beta: beta, c: out, ldc: outDim)
    }
}

/// Backward of `matmulForward`. Any of the three gradients may be skipped by passing nil:
/// `dinp = dout @ weight^T` (overwritten, or added when `accumulateInput`),
/// `dweight += inp^T @ dout`, `dbias += column sums of dout`.
public func matmulBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulateInput: Bool = false
) {
    PhaseTimes.time(.dense) {
        let inputGradient = dinp.map {
            SgemmProblem(transA: false, transB: true, m: rows, n: inDim, k: outDim,
                         a: dout, lda: outDim, b: weight, ldb: outDim, beta: accumulateInput ? 1 : 0, c: $0, ldc: inDim)
        }
        let weightGradient = dweight.map {
            SgemmProblem(transA: true, transB: false, m: inDim, n: outDim, k: rows,
                         a: inp, lda: inDim, b: dout, ldb: outDim, beta: 1, c: $0, ldc: outDim)
        }
        runGradients(inputGradient, weightGradient)
        if let dbias { columnSums(into: dbias, dout, rows: rows, cols: outDim) }
    }
}

/// A layer's input and weight gradients: at once when both are wanted (`parallelSgemmPair`).
private func runGradients(_ input: SgemmProblem?, _ weight: SgemmProblem?) {
    switch (input, weight) {
    case let (input?, weight?): parallelSgemmPair(input, weight)
    case let (input?, nil): parallelSgemm(input)
    case let (nil, weight?): parallelSgemm(weight)
    case (nil, nil): break
    }
}

/// The language-model head, `logits[rows, vocab] = inp[rows, dim] @ head[vocab, dim]^T`: an untied `lm_head` or,
/// when tied, the token embedding itself (both are stored [vocab, dim]).
public func headForward(
    logits: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, head: UnsafePointer<Float>,
    rows: Int, dim: Int, vocab: Int
) {
    PhaseTimes.time(.dense) {
        parallelSgemm(transA: false, transB: true, m: rows, n: vocab, k: dim,
              a: inp, lda: dim, b: head, ldb: dim, beta: 0, c: logits, ldc: vocab)
    }
}

/// Backward of `headForward`: `dinp = dlogits @ head` (overwritten), `dhead += dlogits^T @ inp`.
/// With `vocabRows`, `dhead` holds only those rows (starting at its first), and only they are computed;
/// `dinp` still takes every row of the vocabulary.
public func headBackward(
    dinp: UnsafeMutablePointer<Float>?, dhead: UnsafeMutablePointer<Float>?,
    dlogits: UnsafePointer<Float>, inp: UnsafePointer<Float>, head: UnsafePointer<Float>,
    rows: Int, dim: Int, vocab: Int, vocabRows: Range<Int>? = nil
) {
    PhaseTimes.time(.dense) {
        let part = vocabRows ?? 0..<vocab
        let inputGradient = dinp.map {
            SgemmProblem(transA: false, transB: false, m: rows, n: dim, k: vocab,
                         a: dlogits, lda: vocab, b: head, ldb: dim, beta: 0, c: $0, ldc: dim)
        }
        let weightGradient = dhead.map {
            SgemmProblem(transA: true, transB: false, m: part.count, n: dim, k: rows,
                         a: dlogits + part.lowerBound, lda: vocab, b: inp, ldb: dim, beta: 1, c: $0, ldc: dim)
        }
        runGradients(inputGradient, weightGradient)
    }
}

/// nn.Linear without bias, weight [outDim, inDim] row-major:
/// `out[rows, outDim] = inp[rows, inDim] @ weight^T (+ residual)`, the residual folded in as `matmulForward` does.
public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, residual: UnsafePointer<Float>? = nil
) {
    PhaseTimes.time(.dense) {
        if let residual {
            Parallel.forRanges(rows * outDim, minimumPerWorker: 1 << 16) { _, range in
                (out + range.lowerBound).update(from: residual + range.lowerBound, count: range.count)
            }
        }
        parallelSgemm(transA: false, transB: true, m: rows, n: outDim, k: inDim,
                      a: inp, lda: inDim, b: weight, ldb: inDim, beta: residual == nil ? 0 : 1, c: out, ldc: outDim)
    }
}

/// Backward of `linearForward`; either gradient may be skipped by passing nil:
/// `dinp = dout @ weight` (overwritten, or added when `accumulateInput`), `dweight[outDim, inDim] += dout^T @ inp`.
public func linearBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, inDim: Int, outDim: Int,
    accumulateInput: Bool = false
) {
    PhaseTimes.time(.dense) {
        let inputGradient = dinp.map {
            SgemmProblem(transA: false, transB: false, m: rows, n: inDim, k: outDim,
                         a: dout, lda: outDim, b: weight, ldb: inDim, beta: accumulateInput ? 1 : 0, c: $0, ldc: inDim)
        }
        let weightGradient = dweight.map {
            SgemmProblem(transA: true, transB: false, m: outDim, n: inDim, k: rows,
                         a: dout, lda: outDim, b: inp, ldb: inDim, beta: 1, c: $0, ldc: inDim)
        }
        runGradients(inputGradient, weightGradient)
    }
}

/// `out[i] = a[i] + b[i]` for i in 0..<n (out may alias a or b).
@inline(__always)
public func addVectors(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    fk_add(out, a, b, n)
}

/// `sums[c] += sum over r of m[r, c]`, rows added in order (columns split across workers in blocks of 16).
public func columnSums(into sums: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, rows: Int, cols: Int) {
    Parallel.forRanges((cols + 15) / 16, minimumPerWorker: 4) { _, range in
        fk_column_sums(sums, m, rows, cols, range.lowerBound * 16, min(cols, range.upperBound * 16))
    }
}

/// Sets `count` floats to zero, split across `BLAS.threads` workers.
public func zeroFill(_ p: UnsafeMutablePointer<Float>, count: Int) {
    Parallel.forRanges(count, minimumPerWorker: 1 << 16) { _, r in
        (p + r.lowerBound).update(repeating: 0, count: r.count)
    }
}

/// Residual connection: `out[i] = a[i] + b[i]` for i in 0..<n (out may alias a or b), split across
/// `BLAS.threads` workers. (The model folds its residual adds into `matmulForward(residual:)`.)
public func residualForward(out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) {
    Parallel.forRanges((n + 15) / 16, minimumPerWorker: 2048) { _, r in
        let start = r.lowerBound * 16
        addVectors(out + start, a + start, b + start, min(n, r.upperBound * 16) - start)
    }
}
