// LayerNorm over the last dimension, saving each row's mean and 1/std for the backward pass.

/// `out[r, :] = (inp[r, :] - mean_r) * rstd_r * weight + bias`, with the biased variance and `eps` inside the root.
public func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
) {
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        layerNormForwardRows(out: out, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: bias,
                             rows: range, dim: dim, eps: eps)
    }
}

@inline(__always)
func layerNormForwardRows(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    rows: Range<Int>, dim: Int, eps: Float
) {
    let vecEnd = dim & ~7
    for r in rows {
        let x = inp + r * dim, o = out + r * dim
        var acc = Float8(), i = 0
        while i < vecEnd { acc += load8(x + i); i += 8 }
        var s = horizontalSum(acc)
        while i < dim { s += x[i]; i += 1 }
        let m = s / Float(dim)
        let mv = Float8(repeating: m)
        acc = Float8(); i = 0
        while i < vecEnd { let d = load8(x + i) - mv; acc += d * d; i += 8 }
        var v = horizontalSum(acc)
        while i < dim { let d = x[i] - m; v += d * d; i += 1 }
        let rs = 1 / (v / Float(dim) + eps).squareRoot()
        let rv = Float8(repeating: rs)
        i = 0
        while i < vecEnd {
            store8((load8(x + i) - mv) * rv * load8(weight + i) + load8(bias + i), o + i)
            i += 8
        }
        while i < dim { o[i] = (x[i] - m) * rs * weight[i] + bias[i]; i += 1 }
        mean[r] = m
        rstd[r] = rs
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
        Parallel.forRanges((dim + 7) / 8, minimumPerWorker: 8) { _, range in
            let c0 = range.lowerBound * 8, c1 = min(dim, range.upperBound * 8)
            for r in 0..<rows {
                let x = inp + r * dim, g = dout + r * dim
                let mv = Float8(repeating: mean[r]), rv = Float8(repeating: rstd[r])
                var i = c0
                while i + 8 <= c1 {
                    let gv = load8(g + i)
                    store8(load8(dbias + i) + gv, dbias + i)
                    store8(load8(dweight + i) + (load8(x + i) - mv) * rv * gv, dweight + i)
                    i += 8
                }
                while i < c1 {
                    dbias[i] += g[i]
                    dweight[i] += (x[i] - mean[r]) * rstd[r] * g[i]
                    i += 1
                }
            }
        }
    }
    guard let dinp else { return }
    Parallel.forRanges(rows, minimumPerWorker: 64) { _, range in
        layerNormInputGradient(dinp: dinp, dout: dout, inp: inp, weight: weight, mean: mean, rstd: rstd, rows: range, dim: dim)
    }
}

/// `dinp[r] += (w*g - mean(w*g) - norm * mean(w*g*norm)) * rstd` for the rows in `rows`.
@inline(__always)
func layerNormInputGradient(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Range<Int>, dim: Int
) {
    let vecEnd = dim & ~7
    for r in rows {
        let x = inp + r * dim, g = dout + r * dim
        let mv = Float8(repeating: mean[r]), rv = Float8(repeating: rstd[r])
        var a1 = Float8(), a2 = Float8(), i = 0
        while i < vecEnd {
            let dn = load8(weight + i) * load8(g + i)
            a1 += dn
            a2 += dn * (load8(x + i) - mv) * rv
            i += 8
        }
        var s1 = horizontalSum(a1), s2 = horizontalSum(a2)
        while i < dim {
            let dn = weight[i] * g[i]
            s1 += dn
            s2 += dn * (x[i] - mean[r]) * rstd[r]
            i += 1
        }
        let m1 = Float8(repeating: s1 / Float(dim)), m2 = Float8(repeating: s2 / Float(dim))
        let d = dinp + r * dim
        i = 0
        while i < vecEnd {
            let norm = (load8(x + i) - mv) * rv
            let dn = load8(weight + i) * load8(g + i)
            store8(load8(d + i) + (dn - m1 - norm * m2) * rv, d + i)
            i += 8
        }
        while i < dim {
            let norm = (x[i] - mean[r]) * rstd[r]
            d[i] += (weight[i] * g[i] - m1[0] - norm * m2[0]) * rstd[r]
            i += 1
        }
    }
}
