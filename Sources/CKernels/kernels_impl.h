// The kernel bodies, included once per instruction set by kernels_<path>.c, which define
// FK_WIDTH (floats per vector) and FK_TABLE (the name of that path's function table) and wrap
// the include in a `#pragma clang attribute` that sets the target features. Everything here is
// plain C on GCC/Clang vector types, so each copy is compiled for its own vector width.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

typedef float vf __attribute__((vector_size(FK_WIDTH * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(FK_WIDTH * 4), aligned(4)));
#define W FK_WIDTH

static inline __attribute__((always_inline)) vf splat(float x) { return (vf){0} + x; }
static inline __attribute__((always_inline)) vf ld(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void st(float *p, vf v) { memcpy(p, &v, sizeof v); }
/// The first k (< W) floats at p, the other lanes set to fill.
static inline __attribute__((always_inline)) vf ldp(const float *p, size_t k, float fill) {
    float b[W];
    for (int i = 0; i < W; i++) b[i] = fill;
    memcpy(b, p, k * sizeof(float));
    return ld(b);
}
/// Stores the first k (< W) lanes.
static inline __attribute__((always_inline)) void stp(float *p, vf v, size_t k) {
    float b[W];
    st(b, v);
    memcpy(p, b, k * sizeof(float));
}
static inline __attribute__((always_inline)) vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
static inline __attribute__((always_inline)) vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
static inline __attribute__((always_inline)) vf vmin(vf a, vf b) { return vselect(a < b, a, b); }
static inline __attribute__((always_inline)) vf vsqrt(vf a) { return __builtin_elementwise_sqrt(a); }
// Horizontal reductions as a tree (depth log2 W), not a serial chain: short rows (attention at small
// T) would otherwise spend more time reducing than computing.
static inline __attribute__((always_inline)) float hsum(vf v) {
    float b[W];
    st(b, v);
    for (int w = W / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) b[i] += b[i + w];
    return b[0];
}
static inline __attribute__((always_inline)) float hmax(vf v) {
    float b[W];
    st(b, v);
    for (int w = W / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) b[i] = b[i + w] > b[i] ? b[i + w] : b[i];
    return b[0];
}

/// e^x, Cephes-style: x = n ln2 + r, a degree-6 polynomial for e^r, 2^n from the exponent bits.
/// Inputs are clamped to [-87.3, 88], so the result is finite and positive.
static inline __attribute__((always_inline)) vf vexp(vf input) {
    vf x = vmax(vmin(input, splat(88.0f)), splat(-87.3f));
    const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low bits
    vf t = x * splat(1.44269504f) + magic;
    vf n = t - magic;
    vf r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    vf y = p * (r * r) + r + splat(1.0f);
    vi bits = ((vi)t << 23) + 0x3F800000;
    return y * (vf)bits;
}

static const float gelu_scale = 0.7978845608028654f;  // sqrt(2 / pi)
static const float gelu_cubic = 0.044715f;

static inline __attribute__((always_inline)) vf gelu_tanh(vf x) {
    vf z = splat(gelu_scale) * (x + splat(gelu_cubic) * x * x * x);
    return splat(1.0f) - splat(2.0f) / (vexp(z + z) + splat(1.0f));
}
static inline __attribute__((always_inline)) vf gelu_derivative(vf x, vf th) {
    vf sech2 = splat(1.0f) - th * th;
    return splat(0.5f) * (splat(1.0f) + th)
         + splat(0.5f) * x * sech2 * splat(gelu_scale) * (splat(1.0f) + splat(3.0f * gelu_cubic) * x * x);
}

static void gelu_forward(float *out, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) {
        vf x = ld(inp + i);
        st(out + i, splat(0.5f) * x * (splat(1.0f) + gelu_tanh(x)));
    }
    if (i < n) {
        vf x = ldp(inp + i, n - i, 0);
        stp(out + i, splat(0.5f) * x * (splat(1.0f) + gelu_tanh(x)), n - i);
    }
}

static void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) {
        vf x = ld(inp + i);
        st(dinp + i, ld(dout + i) * gelu_derivative(x, gelu_tanh(x)));
    }
    if (i < n) {
        size_t k = n - i;
        vf x = ldp(inp + i, k, 0);
        stp(dinp + i, ldp(dout + i, k, 0) * gelu_derivative(x, gelu_tanh(x)), k);
    }
}

static void softmax_row(float *x, size_t n, size_t len) {
    size_t end = n - n % W, i;
    vf mv = splat(-INFINITY);
    for (i = 0; i < end; i += W) mv = vmax(mv, ld(x + i));
    float m = hmax(mv);
    for (i = end; i < n; i++) m = x[i] > m ? x[i] : m;
    vf mb = splat(m), acc = splat(0);
    for (i = 0; i < end; i += W) {
        vf e = vexp(ld(x + i) - mb);
        st(x + i, e);
        acc += e;
    }
    float sum = hsum(acc);
    for (i = end; i < n; i++) {
        x[i] = vexp(splat(x[i] - m))[0];
        sum += x[i];
    }
    vf inv = splat(1.0f / sum);
    for (i = 0; i < end; i += W) st(x + i, ld(x + i) * inv);
    for (i = end; i < n; i++) x[i] *= inv[0];
    if (len > n) memset(x + n, 0, (len - n) * sizeof(float));
}

/// Lanes 0, 1, ..., W-1.
static inline __attribute__((always_inline)) vi lane_index(void) {
    vi v;
    for (int i = 0; i < W; i++) v[i] = i;
    return v;
}

/// Softmax of x[0..<n] in place in a buffer that holds whole vectors past n: the lanes past n in the
/// last vector are masked (and written as 0), so short rows take no scalar tail.
static void softmax_padded_row(float *x, size_t n) {
    size_t end = n - n % W, k = n - end, i;
    vi live = lane_index() < (int)k;
    vf mv = splat(-INFINITY);
    for (i = 0; i < end; i += W) mv = vmax(mv, ld(x + i));
    if (k) mv = vmax(mv, vselect(live, ld(x + end), splat(-INFINITY)));
    vf mb = splat(hmax(mv)), acc = splat(0);
    for (i = 0; i < end; i += W) {
        vf e = vexp(ld(x + i) - mb);
        st(x + i, e);
        acc += e;
    }
    vf tail = splat(0);
    if (k) {
        tail = vselect(live, vexp(ld(x + end) - mb), splat(0));
        acc += tail;
    }
    vf inv = splat(1.0f / hsum(acc));
    for (i = 0; i < end; i += W) st(x + i, ld(x + i) * inv);
    if (k) st(x + end, tail * inv);
}

static void softmax_backward_row(float *dp, const float *p, size_t n, float scale) {
    size_t end = n - n % W, i;
    vf acc = splat(0);
    for (i = 0; i < end; i += W) acc += ld(p + i) * ld(dp + i);
    float s = hsum(acc);
    for (i = end; i < n; i++) s += p[i] * dp[i];
    vf sv = splat(s), sc = splat(scale);
    for (i = 0; i < end; i += W) st(dp + i, sc * ld(p + i) * (ld(dp + i) - sv));
    for (i = end; i < n; i++) dp[i] = scale * p[i] * (dp[i] - s);
}

/// softmax_backward_row over whole vectors: p is zero past n, so those entries come out 0.
static void softmax_backward_padded_row(float *dp, const float *p, size_t vectors_end, float scale) {
    vf acc = splat(0);
    for (size_t i = 0; i < vectors_end; i += W) acc += ld(p + i) * ld(dp + i);
    vf sv = splat(hsum(acc)), sc = splat(scale);
    for (size_t i = 0; i < vectors_end; i += W) st(dp + i, sc * ld(p + i) * (ld(dp + i) - sv));
}

static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                              const float *bias, size_t r0, size_t r1, size_t dim, float eps) {
    size_t end = dim - dim % W;
    for (size_t r = r0; r < r1; r++) {
        const float *x = inp + r * dim;
        float *o = out + r * dim;
        vf acc = splat(0);
        size_t i;
        for (i = 0; i < end; i += W) acc += ld(x + i);
        float s = hsum(acc);
        for (; i < dim; i++) s += x[i];
        float m = s / (float)dim;
        vf mv = splat(m);
        acc = splat(0);
        for (i = 0; i < end; i += W) { vf d = ld(x + i) - mv; acc += d * d; }
        float var = hsum(acc);
        for (; i < dim; i++) { float d = x[i] - m; var += d * d; }
        float rs = 1.0f / sqrtf(var / (float)dim + eps);
        vf rv = splat(rs);
        for (i = 0; i < end; i += W) st(o + i, (ld(x + i) - mv) * rv * ld(weight + i) + ld(bias + i));
        for (; i < dim; i++) o[i] = (x[i] - m) * rs * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = rs;
    }
}

static void layernorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight,
                                 const float *mean, const float *rstd, size_t r0, size_t r1, size_t dim) {
    size_t end = dim - dim % W;
    for (size_t r = r0; r < r1; r++) {
        const float *x = inp + r * dim, *g = dout + r * dim;
        float *d = dinp + r * dim;
        vf mv = splat(mean[r]), rv = splat(rstd[r]), a1 = splat(0), a2 = splat(0);
        size_t i;
        for (i = 0; i < end; i += W) {
            vf dn = ld(weight + i) * ld(g + i);
            a1 += dn;
            a2 += dn * (ld(x + i) - mv) * rv;
        }
        float s1 = hsum(a1), s2 = hsum(a2);
        for (; i < dim; i++) {
            float dn = weight[i] * g[i];
            s1 += dn;
            s2 += dn * (x[i] - mean[r]) * rstd[r];
        }
        float m1 = s1 / (float)dim, m2 = s2 / (float)dim;
        vf m1v = splat(m1), m2v = splat(m2);
        for (i = 0; i < end; i += W) {
            vf norm = (ld(x + i) - mv) * rv;
            vf dn = ld(weight + i) * ld(g + i);
            st(d + i, ld(d + i) + (dn - m1v - norm * m2v) * rv);
        }
        for (; i < dim; i++) {
            float norm = (x[i] - mean[r]) * rstd[r];
            d[i] += (weight[i] * g[i] - m1 - norm * m2) * rstd[r];
        }
    }
}

static void layernorm_param_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                                 const float *mean, const float *rstd, size_t rows, size_t dim, size_t c0, size_t c1) {
    // Two vectors of columns at a time, summed over every row in registers, then added once: a
    // load-add-store per row would chain every row through memory.
    size_t i = c0;
    for (; i + 2 * W <= c1; i += 2 * W) {
        vf b0 = splat(0), b1 = splat(0), w0 = splat(0), w1 = splat(0);
        for (size_t r = 0; r < rows; r++) {
            const float *x = inp + r * dim + i, *g = dout + r * dim + i;
            vf mv = splat(mean[r]), rv = splat(rstd[r]), g0 = ld(g), g1 = ld(g + W);
            b0 += g0; b1 += g1;
            w0 += (ld(x) - mv) * rv * g0;
            w1 += (ld(x + W) - mv) * rv * g1;
        }
        st(dbias + i, ld(dbias + i) + b0); st(dbias + i + W, ld(dbias + i + W) + b1);
        st(dweight + i, ld(dweight + i) + w0); st(dweight + i + W, ld(dweight + i + W) + w1);
    }
    for (; i < c1; i++) {
        float bs = 0, ws = 0;
        for (size_t r = 0; r < rows; r++) {
            float g = dout[r * dim + i];
            bs += g;
            ws += (inp[r * dim + i] - mean[r]) * rstd[r] * g;
        }
        dbias[i] += bs;
        dweight[i] += ws;
    }
}

static void cross_entropy(float *logits, const int32_t *targets, size_t r0, size_t r1, size_t vocab,
                          int has_gradient, float gradient_scale, double *losses) {
    size_t end = vocab - vocab % W;
    for (size_t r = r0; r < r1; r++) {
        float *x = logits + r * vocab;
        int32_t target = targets[r];
        losses[r] = 0;
        if (target < 0) {
            if (has_gradient) memset(x, 0, vocab * sizeof(float));
            continue;
        }
        vf mv = splat(-INFINITY);
        size_t i;
        for (i = 0; i < end; i += W) mv = vmax(mv, ld(x + i));
        float m = hmax(mv);
        for (; i < vocab; i++) m = x[i] > m ? x[i] : m;
        vf mb = splat(m), acc = splat(0);
        for (i = 0; i < end; i += W) acc += vexp(ld(x + i) - mb);
        float sum = hsum(acc);
        if (end < vocab) {
            vf e = vexp(ldp(x + end, vocab - end, 0) - mb);
            for (size_t j = 0; j < vocab - end; j++) sum += e[j];
        }
        losses[r] = log((double)sum) + (double)m - (double)x[target];
        if (!has_gradient) continue;
        vf k = splat(gradient_scale / sum);
        for (i = 0; i < end; i += W) st(x + i, vexp(ld(x + i) - mb) * k);
        if (end < vocab) stp(x + end, vexp(ldp(x + end, vocab - end, 0) - mb) * k, vocab - end);
        x[target] -= gradient_scale;
    }
}

static void adamw(float *params, float *grads, float *m, float *v, size_t count, float learning_rate,
                  float beta1, float beta2, float eps, float weight_decay, long step, int zero_grads) {
    double lr = learning_rate, b1 = beta1, b2 = beta2, b1t = 1, b2t = 1;
    for (long s = 0; s < step; s++) { b1t *= b1; b2t *= b2; }
    float decay = (float)(1 - lr * (double)weight_decay);
    float step_size = (float)(lr / (1 - b1t));
    float bc2 = (float)sqrt(1 - b2t);
    float w1 = 1 - beta1, w2 = 1 - beta2;
    size_t i = 0;
    for (; i + W <= count; i += W) {
        vf g = ld(grads + i);
        vf p = ld(params + i) * splat(decay);
        vf mm = ld(m + i);
        mm = mm + splat(w1) * (g - mm);
        vf vv = ld(v + i) * splat(beta2) + g * g * splat(w2);
        vf denom = vsqrt(vv) / splat(bc2) + splat(eps);
        st(params + i, p - splat(step_size) * (mm / denom));
        st(m + i, mm);
        st(v + i, vv);
        if (zero_grads) st(grads + i, splat(0));
    }
    for (; i < count; i++) {
        float g = grads[i], p = params[i] * decay;
        m[i] = m[i] + w1 * (g - m[i]);
        v[i] = v[i] * beta2 + g * g * w2;
        params[i] = p - step_size * (m[i] / (sqrtf(v[i]) / bc2 + eps));
        if (zero_grads) grads[i] = 0;
    }
}

#include "attention_impl.h"
#include "llama_impl.h"

static void exp_array(float *out, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) st(out + i, vexp(ld(inp + i)));
    if (i < n) stp(out + i, vexp(ldp(inp + i, n - i, 0)), n - i);
}

static void add(float *out, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) st(out + i, ld(a + i) + ld(b + i));
    for (; i < n; i++) out[i] = a[i] + b[i];
}

static void column_sums(float *sums, const float *mat, size_t rows, size_t cols, size_t c0, size_t c1) {
    // Column blocks summed over the rows in registers (see layernorm_param_grad).
    size_t c = c0;
    for (; c + 4 * W <= c1; c += 4 * W) {
        vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
        for (size_t r = 0; r < rows; r++) {
            const float *row = mat + r * cols + c;
            a0 += ld(row); a1 += ld(row + W); a2 += ld(row + 2 * W); a3 += ld(row + 3 * W);
        }
        st(sums + c, ld(sums + c) + a0); st(sums + c + W, ld(sums + c + W) + a1);
        st(sums + c + 2 * W, ld(sums + c + 2 * W) + a2); st(sums + c + 3 * W, ld(sums + c + 3 * W) + a3);
    }
    for (; c + W <= c1; c += W) {
        vf a = splat(0);
        for (size_t r = 0; r < rows; r++) a += ld(mat + r * cols + c);
        st(sums + c, ld(sums + c) + a);
    }
    for (; c < c1; c++) {
        float a = 0;
        for (size_t r = 0; r < rows; r++) a += mat[r * cols + c];
        sums[c] += a;
    }
}

const struct fk_table FK_TABLE = {
    gelu_forward, gelu_backward,
    softmax_row, softmax_backward_row,
    layernorm_forward, layernorm_input_grad, layernorm_param_grad,
    cross_entropy, adamw, add, column_sums, exp_array,
    attention_forward, attention_backward,
    rmsnorm_forward, rmsnorm_input_grad, rmsnorm_param_grad,
    swiglu_forward, swiglu_backward, rope_rotate,
};
