// Causal attention for one (batch, head) at a time, fused: scores, softmax and the weighted sum of
// values in one pass over row tiles of 4 queries, with keys only up to the tile's diagonal. Included by
// kernels_impl.h, so it is compiled for each vector width. Layout: qkv is [B, T, 3C] with q, k, v side
// by side and head h in columns h*hs..<(h+1)*hs of each; attention maps are [T, T] row-major.

// Query (or key) rows per tile: 8 with 32 vector registers (AVX-512), 4 with 16.
#if FK_WIDTH == 16
#define TILE 8
#else
#define TILE 4
#endif
#define UNROLL _Pragma("clang loop unroll(full)")

/// Loads W floats at p, or the first `width` of them (the rest 0) when width < W.
static inline __attribute__((always_inline)) vf ldw(const float *p, size_t width) {
    return width == W ? ld(p) : ldp(p, width, 0);
}
static inline __attribute__((always_inline)) void stw(float *p, vf v, size_t width) {
    if (width == W) st(p, v); else stp(p, v, width);
}

/// s[r][j] = scale * sum_d a[r][d] * bt[d][j] for r < rows (<= TILE) and j < jend (a multiple of W).
/// s has row stride ls, a row stride la, bt row stride lbt.
static void tile_scores(float *s, size_t ls, const float *a, size_t la, size_t rows,
                        const float *bt, size_t lbt, size_t hs, size_t jend, float scale) {
    const float *ar[TILE];
    UNROLL for (int r = 0; r < TILE; r++) ar[r] = a + (r < (int)rows ? r : (int)rows - 1) * la;
    size_t j = 0;
    for (; j + 2 * W <= jend; j += 2 * W) {
        vf c0[TILE], c1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { c0[r] = splat(0); c1[r] = splat(0); }
        for (size_t d = 0; d < hs; d++) {
            vf b0 = ld(bt + d * lbt + j), b1 = ld(bt + d * lbt + j + W);
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = splat(ar[r][d]);
                c0[r] += x * b0;
                c1[r] += x * b1;
            }
        }
        UNROLL for (int r = 0; r < TILE; r++) {
            if (r < (int)rows) {
                st(s + r * ls + j, c0[r] * splat(scale));
                st(s + r * ls + j + W, c1[r] * splat(scale));
            }
        }
    }
    for (; j < jend; j += W) {
        vf c[TILE];
        UNROLL for (int r = 0; r < TILE; r++) c[r] = splat(0);
        for (size_t d = 0; d < hs; d++) {
            vf b0 = ld(bt + d * lbt + j);
            UNROLL for (int r = 0; r < TILE; r++) c[r] += splat(ar[r][d]) * b0;
        }
        UNROLL for (int r = 0; r < TILE; r++)
            if (r < (int)rows) st(s + r * ls + j, c[r] * splat(scale));
    }
}

/// out[r][c] = sum_{k < kend} p[r][k] * m[k][c] for r < rows (<= TILE), c < hs. p has row stride lp,
/// m row stride lm, out row stride lo.
static void tile_weighted_rows(float *out, size_t lo, const float *p, size_t lp, size_t rows,
                               const float *m, size_t lm, size_t kend, size_t hs) {
    const float *pr[TILE];
    UNROLL for (int r = 0; r < TILE; r++) pr[r] = p + (r < (int)rows ? r : (int)rows - 1) * lp;
    size_t c = 0;
    for (; c + 2 * W <= hs; c += 2 * W) {
        vf a0[TILE], a1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { a0[r] = splat(0); a1[r] = splat(0); }
        for (size_t k = 0; k < kend; k++) {
            vf m0 = ld(m + k * lm + c), m1 = ld(m + k * lm + c + W);
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = splat(pr[r][k]);
                a0[r] += x * m0;
                a1[r] += x * m1;
            }
        }
        UNROLL for (int r = 0; r < TILE; r++) {
            if (r < (int)rows) {
                st(out + r * lo + c, a0[r]);
                st(out + r * lo + c + W, a1[r]);
            }
        }
    }
    for (; c < hs; c += W) {
        size_t width = hs - c < W ? hs - c : W;
        vf a[TILE];
        UNROLL for (int r = 0; r < TILE; r++) a[r] = splat(0);
        for (size_t k = 0; k < kend; k++) {
            vf m0 = ldw(m + k * lm + c, width);
            UNROLL for (int r = 0; r < TILE; r++) a[r] += splat(pr[r][k]) * m0;
        }
        UNROLL for (int r = 0; r < TILE; r++)
            if (r < (int)rows) stw(out + r * lo + c, a[r], width);
    }
}

/// out[j][c] = sum_{t >= j} p[t][j] * m[t][c] for key rows j in [j0, j0 + rows), rows <= TILE: the
/// transposed products dS^T Q and P^T dY of the backward pass (p is zero above the diagonal).
static void tile_weighted_columns(float *out, size_t lo, const float *p, size_t lp, size_t j0, size_t rows,
                                  const float *m, size_t lm, size_t seq, size_t hs) {
    if (rows < TILE) {  // the last key rows: one at a time
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < hs; c += W) {
                size_t width = hs - c < W ? hs - c : W;
                vf a = splat(0);
                for (size_t t = j0 + r; t < seq; t++) a += splat(p[t * lp + j0 + r]) * ldw(m + t * lm + c, width);
                stw(out + r * lo + c, a, width);
            }
        return;
    }
    size_t c = 0;
    for (; c + 2 * W <= hs; c += 2 * W) {
        vf a0[TILE], a1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { a0[r] = splat(0); a1[r] = splat(0); }
        for (size_t t = j0; t < seq; t++) {
            vf m0 = ld(m + t * lm + c), m1 = ld(m + t * lm + c + W);
            const float *pt = p + t * lp + j0;
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = splat(pt[r]);
                a0[r] += x * m0;
                a1[r] += x * m1;
            }
        }
        UNROLL for (int r = 0; r < TILE; r++) {
            st(out + r * lo + c, a0[r]);
            st(out + r * lo + c + W, a1[r]);
        }
    }
    for (; c < hs; c += W) {
        size_t width = hs - c < W ? hs - c : W;
        vf a[TILE];
        UNROLL for (int r = 0; r < TILE; r++) a[r] = splat(0);
        for (size_t t = j0; t < seq; t++) {
            vf m0 = ldw(m + t * lm + c, width);
            const float *pt = p + t * lp + j0;
            UNROLL for (int r = 0; r < TILE; r++) a[r] += splat(pt[r]) * m0;
        }
        UNROLL for (int r = 0; r < TILE; r++) stw(out + r * lo + c, a[r], width);
    }
}

/// Copies the [seq, hs] slice at src (row stride ls) transposed into dst [hs, ldt], zero-padding
/// columns seq..<ldt.
static void pack_transposed(float *dst, size_t ldt, const float *src, size_t ls, size_t seq, size_t hs) {
    // From contiguous rows (copy_rows), in blocks of 16 rows so that a block stays in L1. Scalar
    // loads and contiguous stores: vectorising the column walk would compile to slow gathers.
    for (size_t t0 = 0; t0 < seq; t0 += 16) {
        size_t t1 = t0 + 16 < seq ? t0 + 16 : seq;
        for (size_t d = 0; d < hs; d++) {
            float *row = dst + d * ldt;
#pragma clang loop vectorize(disable)
            for (size_t t = t0; t < t1; t++) row[t] = src[t * ls + d];
        }
    }
    for (size_t d = 0; d < hs; d++)
        for (size_t t = seq; t < ldt; t++) dst[d * ldt + t] = 0;
}

static size_t padded(size_t n) { return (n + 2 * W - 1) / (2 * W) * (2 * W); }

/// Zeroes row[from..<to] with vector stores (to - from is a multiple of W).
static inline __attribute__((always_inline)) void zero_vectors(float *row, size_t from, size_t to) {
    for (size_t j = from; j < to; j += W) st(row + j, splat(0));
}

/// Copies the [seq, hs] slice at src (row stride ls) into contiguous rows of hs floats: read tile
/// by tile, rows 3C floats apart alias onto a few L1 sets and miss; contiguous rows do not.
static void copy_rows(float *dst, const float *src, size_t ls, size_t seq, size_t hs) {
    for (size_t t = 0; t < seq; t++) memcpy(dst + t * hs, src + t * ls, hs * sizeof(float));
}

static void attention_forward(float *out, float *att, size_t att_stride, const float *qkv,
                              size_t seq, size_t channels, size_t heads, size_t bh0, size_t bh1) {
    size_t hs = channels / heads, c3 = 3 * channels, ldt = padded(seq);
    float scale = 1.0f / sqrtf((float)hs);
    float *kt = malloc((hs * ldt + TILE * ldt + 2 * seq * hs) * sizeof(float));
    float *s = kt + hs * ldt, *vc = s + TILE * ldt, *kc = vc + seq * hs;
    for (size_t bh = bh0; bh < bh1; bh++) {
        size_t b = bh / heads, h = bh % heads;
        const float *q = qkv + b * seq * c3 + h * hs, *k = q + channels, *v = q + 2 * channels;
        float *y = out + b * seq * channels + h * hs, *a = att + bh * att_stride;
        copy_rows(kc, k, c3, seq, hs);
        pack_transposed(kt, ldt, kc, hs, seq, hs);
        copy_rows(vc, v, c3, seq, hs);
        for (size_t t0 = 0; t0 < seq; t0 += TILE) {
            size_t rows = seq - t0 < TILE ? seq - t0 : TILE, keys = t0 + rows;
            size_t jend = (keys + W - 1) / W * W;
            if (seq % W == 0) {
                // Whole vectors fit the map's rows: compute in place, no copies.
                tile_scores(a + t0 * seq, seq, q + t0 * c3, c3, rows, kt, ldt, hs, jend, scale);
                // Each row is valid to the end of its last vector (zeros past the diagonal); the
                // rest of the row is never read, so it is not written: half the map's traffic.
                for (size_t r = 0; r < rows; r++) softmax_padded_row(a + (t0 + r) * seq, t0 + r + 1);
            } else {
                tile_scores(s, ldt, q + t0 * c3, c3, rows, kt, ldt, hs, jend, scale);
                for (size_t r = 0; r < rows; r++) {
                    size_t n = t0 + r + 1;
                    softmax_padded_row(s + r * ldt, n);
                    memcpy(a + (t0 + r) * seq, s + r * ldt, n * sizeof(float));
                    memset(a + (t0 + r) * seq + n, 0, (seq - n) * sizeof(float));
                }
            }
            tile_weighted_rows(y + t0 * channels, channels, a + t0 * seq, seq, rows, vc, hs, keys, hs);
        }
    }
    free(kt);
}

/// dS rows t0..<t0+rows into ds (row stride seq) from dP = dY V^T: dS = scale * P * (dP - sum(P dP)),
/// zero above the diagonal.
static void tile_softmax_backward(float *ds, float *dp, float *pp, size_t ldt, const float *p, const float *dyc,
                                  const float *vt, size_t seq, size_t hs, size_t t0, size_t rows, float scale) {
    size_t keys = t0 + rows, jend = (keys + W - 1) / W * W;
    if (seq % W == 0) {
        // In place: the kept map is zero past the diagonal to the end of each row's last vector, so dS
        // comes out zero there too; it is zeroed to the tile's end, and entries past that are never
        // read (the products that use dS stop at the diagonal).
        tile_scores(ds + t0 * seq, seq, dyc + t0 * hs, hs, rows, vt, ldt, hs, jend, 1.0f);
        for (size_t r = 0; r < rows; r++) {
            size_t end = (t0 + r + 1 + W - 1) / W * W;  // the map row is valid (zero past the diagonal) to here
            softmax_backward_padded_row(ds + (t0 + r) * seq, p + (t0 + r) * seq, end, scale);
            zero_vectors(ds + (t0 + r) * seq, end, jend);
        }
        return;
    }
    tile_scores(dp, ldt, dyc + t0 * hs, hs, rows, vt, ldt, hs, jend, 1.0f);
    for (size_t r = 0; r < rows; r++) {
        size_t t = t0 + r;
        float *prow = pp + r * ldt;
        memcpy(prow, p + t * seq, (t + 1) * sizeof(float));
        memset(prow + t + 1, 0, (jend - t - 1) * sizeof(float));
        softmax_backward_padded_row(dp + r * ldt, prow, jend, scale);
        memcpy(ds + t * seq, dp + r * ldt, keys * sizeof(float));
        if (keys < seq) memset(ds + t * seq + keys, 0, (seq - keys) * sizeof(float));
    }
}

static void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, float *ds,
                               size_t seq, size_t channels, size_t heads, size_t bh0, size_t bh1) {
    size_t hs = channels / heads, c3 = 3 * channels, ldt = padded(seq);
    float scale = 1.0f / sqrtf((float)hs);
    float *vt = malloc((hs * ldt + 2 * TILE * ldt + 4 * seq * hs) * sizeof(float));
    float *dp = vt + hs * ldt, *pp = dp + TILE * ldt, *qc = pp + TILE * ldt, *kc = qc + seq * hs, *dyc = kc + seq * hs;
    float *vc = dyc + seq * hs;
    for (size_t bh = bh0; bh < bh1; bh++) {
        size_t b = bh / heads, h = bh % heads, off = b * seq * c3 + h * hs;
        const float *q = qkv + off, *k = q + channels, *v = q + 2 * channels;
        float *dq = dqkv + off, *dk = dq + channels, *dv = dq + 2 * channels;
        const float *p = att + bh * seq * seq;
        copy_rows(vc, v, c3, seq, hs);
        pack_transposed(vt, ldt, vc, hs, seq, hs);
        copy_rows(qc, q, c3, seq, hs);
        copy_rows(kc, k, c3, seq, hs);
        copy_rows(dyc, dout + b * seq * channels + h * hs, channels, seq, hs);
        for (size_t t0 = 0; t0 < seq; t0 += TILE) {
            size_t rows = seq - t0 < TILE ? seq - t0 : TILE;
            tile_softmax_backward(ds, dp, pp, ldt, p, dyc, vt, seq, hs, t0, rows, scale);
            // dQ = dS K for these rows.
            tile_weighted_rows(dq + t0 * c3, c3, ds + t0 * seq, seq, rows, kc, hs, t0 + rows, hs);
        }
        // dK = dS^T Q and dV = P^T dY, TILE key rows at a time.
        for (size_t j0 = 0; j0 < seq; j0 += TILE) {
            size_t rows = seq - j0 < TILE ? seq - j0 : TILE;
            tile_weighted_columns(dk + j0 * c3, c3, ds, seq, j0, rows, qc, hs, seq, hs);
            tile_weighted_columns(dv + j0 * c3, c3, p, seq, j0, rows, dyc, hs, seq, hs);
        }
    }
    free(vt);
}

#undef TILE
#undef UNROLL
