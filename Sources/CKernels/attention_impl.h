// Causal attention for one (batch, head) at a time, fused: scores, softmax and the weighted sum of
// values in one pass over row tiles of TILE queries, with keys only up to the tile's diagonal. Included
// by kernels_impl.h, so it is compiled for each vector width. Layout: qkv is [B, T, 3C] with q, k, v
// side by side and head h in columns h*hs..<(h+1)*hs of each. Flash-style: the forward pass keeps only
// each softmax row's log-sum-exp; the backward pass recomputes the probabilities from Q, K and those.
// Recomputing costs one more Q K^T per pair, but a kept [T, T] map per pair (written once and read
// back from memory long after, the dense layers having evicted it) cost more inside a training step.
// In a training step a pair's operands come cold from memory, so each pair fetches the next pair's
// rows ahead, one cache line per step of its weighted-sum loops (lines_ahead.h).

#include "lines_ahead.h"

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
/// x in every lane: one broadcast load (splat's 0 + x costs an add per use, to keep -0).
static inline __attribute__((always_inline)) vf bcast(float x) {
    vf v;
    UNROLL for (int i = 0; i < W; i++) v[i] = x;
    return v;
}

#if FK_WIDTH == 16
#define INTERLEAVE_LO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define INTERLEAVE_HI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#define LOG2_W 4
#elif FK_WIDTH == 8
#define INTERLEAVE_LO 0, 8, 1, 9, 2, 10, 3, 11
#define INTERLEAVE_HI 4, 12, 5, 13, 6, 14, 7, 15
#define LOG2_W 3
#else
#define INTERLEAVE_LO 0, 4, 1, 5
#define INTERLEAVE_HI 2, 6, 3, 7
#define LOG2_W 2
#endif

/// Transposes W vectors in registers: log2(W) rounds of interleaving row k with row k + W/2.
static inline __attribute__((always_inline)) void transpose_block(vf v[W]) {
    UNROLL for (int round = 0; round < LOG2_W; round++) {
        vf t[W];
        UNROLL for (int k = 0; k < W / 2; k++) {
            t[2 * k] = __builtin_shufflevector(v[k], v[k + W / 2], INTERLEAVE_LO);
            t[2 * k + 1] = __builtin_shufflevector(v[k], v[k + W / 2], INTERLEAVE_HI);
        }
        UNROLL for (int k = 0; k < W; k++) v[k] = t[k];
    }
}

/// Copies the [seq, hs] slice at src (row stride ls) transposed into dst [hs, ldt] (ldt a multiple of
/// W), zero-padding columns seq..<ldt, and (unless rows is NULL) as contiguous rows of hs floats.
/// Blocks of W x W are transposed in registers: a column walk would be scalar or gathers.
static void pack_transposed(float *dst, size_t ldt, float *rows, const float *src, size_t ls, size_t seq, size_t hs) {
    for (size_t t0 = 0; t0 < ldt; t0 += W)
        for (size_t d0 = 0; d0 < hs; d0 += W) {
            if (t0 + W <= seq && d0 + W <= hs) {
                vf v[W];
                const float *from = src + t0 * ls + d0;
                UNROLL for (int i = 0; i < W; i++, from += ls) v[i] = ld(from);
                if (rows) {
                    float *copy = rows + t0 * hs + d0;
                    UNROLL for (int i = 0; i < W; i++, copy += hs) st(copy, v[i]);
                }
                transpose_block(v);
                float *to = dst + d0 * ldt + t0;
                UNROLL for (int i = 0; i < W; i++, to += ldt) st(to, v[i]);
                continue;
            }
            // A block at the edges, element by element.
            for (size_t d = d0; d < hs && d < d0 + W; d++)
                for (size_t t = t0; t < t0 + W; t++) {
                    float x = t < seq ? src[t * ls + d] : 0;
                    dst[d * ldt + t] = x;
                    if (rows && t < seq) rows[t * hs + d] = x;
                }
        }
}

// Lane i + W/2^k moved to lane i, for the k-th halving of a reduction tree (other lanes don't matter).
#if FK_WIDTH == 16
#define HALVE(v, k) ((k) == 1 ? __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15) \
                   : (k) == 2 ? __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7) \
                   : (k) == 3 ? __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3) \
                              : __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))
#elif FK_WIDTH == 8
#define HALVE(v, k) ((k) == 1 ? __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7) \
                   : (k) == 2 ? __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3) \
                              : __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1))
#else
#define HALVE(v, k) ((k) == 1 ? __builtin_shufflevector(v, v, 2, 3, 2, 3) : __builtin_shufflevector(v, v, 1, 1, 1, 1))
#endif

/// The sum of the lanes as a tree of halvings, in the order of hsum, in registers.
static inline __attribute__((always_inline)) float vsum(vf v) {
    UNROLL for (int k = 1; k <= LOG2_W; k++) v += HALVE(v, k);
    return v[0];
}
/// The maximum of the lanes (as hmax), in registers.
static inline __attribute__((always_inline)) float vmaximum(vf v) {
    UNROLL for (int k = 1; k <= LOG2_W; k++) v = vmax(v, HALVE(v, k));
    return v[0];
}

/// What tile_scores does with a block of scaled scores of query row t (vectors at column j) before
/// storing it: nothing, also fold it into the row's running maximum (past the diagonal masked), or
/// turn it into probabilities exp(score - lse[t]) (0 past the diagonal).
enum score_epilogue { SCORES, SCORES_AND_MAX, PROBABILITIES };

static inline __attribute__((always_inline)) vf score_block(vf c, float scale, enum score_epilogue mode, size_t t,
                                                           size_t j, const float *lse, vf *rowmax) {
    vf v = c * splat(scale);
    if (mode == SCORES) return v;
    vi past = lane_index() + (int)j > (int)t;
    if (mode == SCORES_AND_MAX) {
        *rowmax = vmax(*rowmax, vselect(past, splat(-INFINITY), v));
        return v;
    }
    return vselect(past, splat(0), vexp(v - splat(lse[t])));
}

/// s[r][j] = scale * sum_d a[r][d] * bt[d][j] for r < rows (<= TILE) and j < jend (a multiple of W), then
/// the epilogue (score_block) for query rows t0 + r. s has row stride ls, a row stride la, bt row stride
/// lbt; rowmax holds TILE vectors.
static inline __attribute__((always_inline)) void tile_scores_then(
    float *s, size_t ls, const float *a, size_t la, size_t rows, const float *bt, size_t lbt, size_t hs, size_t jend,
    float scale, enum score_epilogue mode, size_t t0, const float *lse, vf *rowmax) {
    const float *ar[TILE];
    UNROLL for (int r = 0; r < TILE; r++) ar[r] = a + (r < (int)rows ? r : (int)rows - 1) * la;
    size_t j = 0;
    for (; j + 2 * W <= jend; j += 2 * W) {
        vf c0[TILE], c1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { c0[r] = splat(0); c1[r] = splat(0); }
        for (size_t d = 0; d < hs; d++) {
            vf b0 = ld(bt + d * lbt + j), b1 = ld(bt + d * lbt + j + W);
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = bcast(ar[r][d]);
                c0[r] += x * b0;
                c1[r] += x * b1;
            }
        }
        UNROLL for (int r = 0; r < TILE; r++) {
            if (r < (int)rows) {
                st(s + r * ls + j, score_block(c0[r], scale, mode, t0 + r, j, lse, rowmax + r));
                st(s + r * ls + j + W, score_block(c1[r], scale, mode, t0 + r, j + W, lse, rowmax + r));
            }
        }
    }
    for (; j < jend; j += W) {
        vf c[TILE];
        UNROLL for (int r = 0; r < TILE; r++) c[r] = splat(0);
        for (size_t d = 0; d < hs; d++) {
            vf b0 = ld(bt + d * lbt + j);
            UNROLL for (int r = 0; r < TILE; r++) c[r] += bcast(ar[r][d]) * b0;
        }
        UNROLL for (int r = 0; r < TILE; r++)
            if (r < (int)rows) st(s + r * ls + j, score_block(c[r], scale, mode, t0 + r, j, lse, rowmax + r));
    }
}

/// Scaled scores (see tile_scores_then).
static void tile_scores(float *s, size_t ls, const float *a, size_t la, size_t rows, const float *bt, size_t lbt,
                        size_t hs, size_t jend, float scale) {
    tile_scores_then(s, ls, a, la, rows, bt, lbt, hs, jend, scale, SCORES, 0, 0, 0);
}

/// Scaled scores of query rows t0 + r, with each row's maximum (up to the diagonal) in rowmax[r].
static void tile_scores_max(float *s, size_t ls, const float *a, size_t la, size_t rows, const float *bt, size_t lbt,
                            size_t hs, size_t jend, float scale, size_t t0, float *rowmax) {
    vf m[TILE];
    UNROLL for (int r = 0; r < TILE; r++) m[r] = splat(-INFINITY);
    tile_scores_then(s, ls, a, la, rows, bt, lbt, hs, jend, scale, SCORES_AND_MAX, t0, 0, m);
    for (size_t r = 0; r < rows; r++) rowmax[r] = vmaximum(m[r]);
}

/// Probabilities exp(score - lse[t0 + r]) of query rows t0 + r, 0 past the diagonal.
static void tile_probabilities(float *s, size_t ls, const float *a, size_t la, size_t rows, const float *bt,
                               size_t lbt, size_t hs, size_t jend, float scale, size_t t0, const float *lse) {
    tile_scores_then(s, ls, a, la, rows, bt, lbt, hs, jend, scale, PROBABILITIES, t0, lse, 0);
}

/// out[r][c] = sum_{k < kend} p[r][k] * m[k][c] (times row_scale[r] unless that is NULL) for r < rows
/// (<= TILE), c < hs. p has row stride lp, m row stride lm, out row stride lo. Fetches a line of `ahead`
/// per k.
static void tile_weighted_rows(float *out, size_t lo, const float *p, size_t lp, size_t rows, const float *m,
                               size_t lm, size_t kend, size_t hs, const float *row_scale, struct lines_ahead *ahead) {
    vf rs[TILE];
    UNROLL for (int r = 0; r < TILE; r++) rs[r] = bcast(row_scale && r < (int)rows ? row_scale[r] : 1.0f);
    const float *pr[TILE];
    UNROLL for (int r = 0; r < TILE; r++) pr[r] = p + (r < (int)rows ? r : (int)rows - 1) * lp;
    size_t c = 0;
    for (; c + 2 * W <= hs; c += 2 * W) {
        vf a0[TILE], a1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { a0[r] = splat(0); a1[r] = splat(0); }
        for (size_t k = 0; k < kend; k++) {
            fetch_next_line(ahead);
            vf m0 = ld(m + k * lm + c), m1 = ld(m + k * lm + c + W);
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = bcast(pr[r][k]);
                a0[r] += x * m0;
                a1[r] += x * m1;
            }
        }
        UNROLL for (int r = 0; r < TILE; r++) {
            if (r < (int)rows) {
                st(out + r * lo + c, a0[r] * rs[r]);
                st(out + r * lo + c + W, a1[r] * rs[r]);
            }
        }
    }
    for (; c < hs; c += W) {
        size_t width = hs - c < W ? hs - c : W;
        vf a[TILE];
        UNROLL for (int r = 0; r < TILE; r++) a[r] = splat(0);
        for (size_t k = 0; k < kend; k++) {
            fetch_next_line(ahead);
            vf m0 = ldw(m + k * lm + c, width);
            UNROLL for (int r = 0; r < TILE; r++) a[r] += bcast(pr[r][k]) * m0;
        }
        UNROLL for (int r = 0; r < TILE; r++)
            if (r < (int)rows) stw(out + r * lo + c, a[r] * rs[r], width);
    }
}

/// out[j][c] = sum_{t >= j} p[t][j] * m[t][c] for key rows j in [j0, j0 + rows), rows <= TILE: the
/// transposed products dS^T Q and P^T dY of the backward pass (p is zero above the diagonal). Fetches
/// a line of `ahead` per t.
static void tile_weighted_columns(float *out, size_t lo, const float *p, size_t lp, size_t j0, size_t rows,
                                  const float *m, size_t lm, size_t seq, size_t hs, struct lines_ahead *ahead) {
    if (rows < TILE) {  // the last key rows: one at a time
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < hs; c += W) {
                size_t width = hs - c < W ? hs - c : W;
                vf a = splat(0);
                for (size_t t = j0 + r; t < seq; t++) {
                    fetch_next_line(ahead);
                    a += bcast(p[t * lp + j0 + r]) * ldw(m + t * lm + c, width);
                }
                stw(out + r * lo + c, a, width);
            }
        return;
    }
    size_t c = 0;
    for (; c + 2 * W <= hs; c += 2 * W) {
        vf a0[TILE], a1[TILE];
        UNROLL for (int r = 0; r < TILE; r++) { a0[r] = splat(0); a1[r] = splat(0); }
        for (size_t t = j0; t < seq; t++) {
            fetch_next_line(ahead);
            vf m0 = ld(m + t * lm + c), m1 = ld(m + t * lm + c + W);
            const float *pt = p + t * lp + j0;
            UNROLL for (int r = 0; r < TILE; r++) {
                vf x = bcast(pt[r]);
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
            fetch_next_line(ahead);
            vf m0 = ldw(m + t * lm + c, width);
            const float *pt = p + t * lp + j0;
            UNROLL for (int r = 0; r < TILE; r++) a[r] += bcast(pt[r]) * m0;
        }
        UNROLL for (int r = 0; r < TILE; r++) stw(out + r * lo + c, a[r], width);
    }
}

/// n rounded up to whole vectors: the row stride of score tiles and transposed operands.
static size_t whole_vectors(size_t n) { return (n + W - 1) / W * W; }

/// Zeroes row[from..<to] with vector stores (to - from is a multiple of W).
static inline __attribute__((always_inline)) void zero_vectors(float *row, size_t from, size_t to) {
    for (size_t j = from; j < to; j += W) st(row + j, splat(0));
}

/// Copies the [seq, hs] slice at src (row stride ls) into contiguous rows of hs floats: read tile
/// by tile, rows 3C floats apart alias onto a few L1 sets and miss; contiguous rows do not.
static void copy_rows(float *dst, const float *src, size_t ls, size_t seq, size_t hs) {
    for (size_t t = 0; t < seq; t++)
        for (size_t c = 0; c < hs; c += W) {
            size_t width = hs - c < W ? hs - c : W;
            stw(dst + t * hs + c, ldw(src + t * ls + c, width), width);
        }
}

/// s[i] = exp(s[i] - m) for i < n, 0 past n to the end of the last vector; returns the sum.
static float exp_row(float *s, size_t n, float m) {
    size_t end = n - n % W, k = n - end;
    vf mb = splat(m), acc = splat(0);
    for (size_t i = 0; i < end; i += W) {
        vf e = vexp(ld(s + i) - mb);
        st(s + i, e);
        acc += e;
    }
    if (k) {
        vf e = vselect(lane_index() < (int)k, vexp(ld(s + end) - mb), splat(0));
        st(s + end, e);
        acc += e;
    }
    return vsum(acc);
}

/// Work buffers of one worker: K^T and V^T padded to whole vectors, a score tile, contiguous copies
/// of up to three [T, hs] operands, then `maps` [T, ldt] maps.
struct attention_buffers {
    float *transposed, *tile, *rows[3];
    size_t ldt;
};

static int attention_buffers_make(struct attention_buffers *b, size_t seq, size_t hs, size_t maps) {
    b->ldt = whole_vectors(seq);
    size_t n = 2 * hs * b->ldt + TILE * b->ldt + 3 * seq * hs + maps * seq * b->ldt;
    // Cache-line aligned: malloc's 16-byte alignment (a different one per thread's arena) makes most
    // vector loads of the tiles and packed operands straddle two lines.
    float *base = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!base) return 0;
    b->transposed = base;
    b->tile = base + 2 * hs * b->ldt;
    for (int i = 0; i < 3; i++) b->rows[i] = b->tile + TILE * b->ldt + i * seq * hs;
    return 1;
}

/// The maps after the fixed buffers (see attention_buffers_make).
static float *attention_buffers_maps(struct attention_buffers *b, size_t seq, size_t hs) {
    return b->rows[2] + seq * hs;
}

/// Queries, keys, values and (in the backward pass) output gradient of one (batch, head) pair:
/// slices of [B, T, 3C] (and [B, T, C]) with head h in columns h*hs..<(h+1)*hs.
struct head_slices {
    const float *q, *k, *v, *dy;
    float *y, *dq;
};

static struct head_slices head_at(size_t bh, float *out, float *dqkv, const float *dout, const float *qkv,
                                  size_t seq, size_t channels, size_t heads) {
    size_t hs = channels / heads, b = bh / heads, h = bh % heads, off = b * seq * 3 * channels + h * hs;
    struct head_slices s = {qkv + off, qkv + off + channels, qkv + off + 2 * channels, 0, 0, 0};
    size_t o = b * seq * channels + h * hs;
    if (dout) s.dy = dout + o;
    if (out) s.y = out + o;
    if (dqkv) s.dq = dqkv + off;
    return s;
}

static void attention_forward(float *out, float *lse, const float *qkv, size_t seq, size_t channels, size_t heads,
                              size_t bh0, size_t bh1) {
    size_t hs = channels / heads, c3 = 3 * channels;
    float scale = 1.0f / sqrtf((float)hs);
    struct attention_buffers buf;
    if (!attention_buffers_make(&buf, seq, hs, 0)) abort();
    size_t ldt = buf.ldt;
    float *kt = buf.transposed, *s = buf.tile, *vc = buf.rows[0];
    for (size_t bh = bh0; bh < bh1; bh++) {
        struct head_slices x = head_at(bh, out, 0, 0, qkv, seq, channels, heads);
        pack_transposed(kt, ldt, 0, x.k, c3, seq, hs);
        copy_rows(vc, x.v, c3, seq, hs);
        // The next pair's K and V first: its packing reads all their rows before its first tile.
        struct lines_ahead ahead = {.seq = seq, .hs = hs};
        if (bh + 1 < bh1) {
            struct head_slices next = head_at(bh + 1, out, 0, 0, qkv, seq, channels, heads);
            lines_ahead_add(&ahead, next.k, c3, 0);
            lines_ahead_add(&ahead, next.v, c3, 0);
            lines_ahead_add(&ahead, next.q, c3, 0);
            lines_ahead_add(&ahead, next.y, channels, 1);
        }
        for (size_t t0 = 0; t0 < seq; t0 += TILE) {
            size_t rows = seq - t0 < TILE ? seq - t0 : TILE, keys = t0 + rows;
            float m[TILE], inv[TILE];
            tile_scores_max(s, ldt, x.q + t0 * c3, c3, rows, kt, ldt, hs, whole_vectors(keys), scale, t0, m);
            // Each row is valid to the end of its last vector (zeros past the diagonal), which reaches
            // the tile's last key: the weighted sum reads no further. It is normalised as it is stored.
            for (size_t r = 0; r < rows; r++) {
                float sum = exp_row(s + r * ldt, t0 + r + 1, m[r]);
                inv[r] = 1.0f / sum;
                if (lse) lse[bh * seq + t0 + r] = m[r] + logf(sum);
            }
            tile_weighted_rows(x.y + t0 * channels, channels, s, ldt, rows, vc, hs, keys, hs, inv, &ahead);
        }
    }
    free(buf.transposed);
}

/// Query rows t0..<t0+rows of one pair's backward: P recomputed from Q K^T and the log-sum-exp into p,
/// dP = dY V^T and then dS = scale * P * (dP - sum(P dP)) into ds (both of row stride lm, valid to the
/// end of each row's last vector, zero past the diagonal), and dQ = dS K.
static void tile_backward(float *p, float *ds, size_t lm, const float *lse, const struct head_slices *x,
                          const float *qc, const float *kt, const float *vt, const float *kc, const float *dyc,
                          size_t ldt, size_t hs, size_t c3, size_t t0, size_t rows, float scale,
                          struct lines_ahead *ahead) {
    size_t keys = t0 + rows, jend = whole_vectors(keys);
    tile_probabilities(p + t0 * lm, lm, qc + t0 * hs, hs, rows, kt, ldt, hs, jend, scale, t0, lse);
    tile_scores(ds + t0 * lm, lm, dyc + t0 * hs, hs, rows, vt, ldt, hs, jend, 1.0f);
    for (size_t r = 0; r < rows; r++) {
        size_t t = t0 + r, end = whole_vectors(t + 1);
        softmax_backward_padded_row(ds + t * lm, p + t * lm, end, scale);
        zero_vectors(ds + t * lm, end, jend);
    }
    tile_weighted_rows(x->dq + t0 * c3, c3, ds + t0 * lm, lm, rows, kc, hs, keys, hs, 0, ahead);
}

/// The next pair's rows in the order its backward pass first touches them: the four inputs it copies
/// and packs before its first tile, then dQ (written tile by tile), dK and dV (written last).
static void lines_ahead_backward(struct lines_ahead *a, const struct head_slices *n, size_t channels) {
    size_t c3 = 3 * channels;
    lines_ahead_add(a, n->q, c3, 0);
    lines_ahead_add(a, n->k, c3, 0);
    lines_ahead_add(a, n->v, c3, 0);
    lines_ahead_add(a, n->dy, channels, 0);
    lines_ahead_add(a, n->dq, c3, 1);
    lines_ahead_add(a, n->dq + channels, c3, 1);
    lines_ahead_add(a, n->dq + 2 * channels, c3, 1);
}

static void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse, float *scratch,
                               size_t seq, size_t channels, size_t heads, size_t bh0, size_t bh1) {
    size_t hs = channels / heads, c3 = 3 * channels;
    float scale = 1.0f / sqrtf((float)hs);
    // P and dS as [T, lm]: in the caller's scratch map when whole vectors fit its rows.
    size_t lm = whole_vectors(seq);
    struct attention_buffers buf;
    if (!attention_buffers_make(&buf, seq, hs, lm == seq ? 1 : 2)) abort();
    size_t ldt = buf.ldt;
    float *kt = buf.transposed, *vt = kt + hs * ldt;
    float *qc = buf.rows[0], *kc = buf.rows[1], *dyc = buf.rows[2];
    float *p = attention_buffers_maps(&buf, seq, hs), *ds = lm == seq ? scratch : p + seq * lm;
    for (size_t bh = bh0; bh < bh1; bh++) {
        struct head_slices x = head_at(bh, 0, dqkv, dout, qkv, seq, channels, heads);
        const float *l = lse + bh * seq;
        copy_rows(qc, x.q, c3, seq, hs);
        pack_transposed(kt, ldt, kc, x.k, c3, seq, hs);
        pack_transposed(vt, ldt, 0, x.v, c3, seq, hs);
        copy_rows(dyc, x.dy, channels, seq, hs);
        struct lines_ahead ahead = {.seq = seq, .hs = hs};
        if (bh + 1 < bh1) {
            struct head_slices next = head_at(bh + 1, 0, dqkv, dout, qkv, seq, channels, heads);
            lines_ahead_backward(&ahead, &next, channels);
        }
        for (size_t t0 = 0; t0 < seq; t0 += TILE) {
            size_t rows = seq - t0 < TILE ? seq - t0 : TILE;
            tile_backward(p, ds, lm, l, &x, qc, kt, vt, kc, dyc, ldt, hs, c3, t0, rows, scale, &ahead);
        }
        // dK = dS^T Q and dV = P^T dY, TILE key rows at a time.
        float *dk = x.dq + channels, *dv = x.dq + 2 * channels;
        for (size_t j0 = 0; j0 < seq; j0 += TILE) {
            size_t rows = seq - j0 < TILE ? seq - j0 : TILE;
            tile_weighted_columns(dk + j0 * c3, c3, ds, lm, j0, rows, qc, hs, seq, hs, &ahead);
            tile_weighted_columns(dv + j0 * c3, c3, p, lm, j0, rows, dyc, hs, seq, hs, &ahead);
        }
    }
    free(buf.transposed);
}

#undef TILE
#undef UNROLL
