// The kernels only Llama-style models use: RMSNorm, SwiGLU and rotary position embedding. Included by
// kernels_impl.h after its vector helpers, so it is compiled once per instruction set like the rest.

static void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight,
                            size_t r0, size_t r1, size_t dim, float eps) {
    size_t end = dim - dim % W;
    for (size_t r = r0; r < r1; r++) {
        const float *x = inp + r * dim;
        float *o = out + r * dim;
        vf acc = splat(0);
        size_t i;
        for (i = 0; i < end; i += W) { vf v = ld(x + i); acc += v * v; }
        float ss = hsum(acc);
        for (; i < dim; i++) ss += x[i] * x[i];
        float rs = 1.0f / sqrtf(ss / (float)dim + eps);
        vf rv = splat(rs);
        // (x * rstd) * weight, in Hugging Face LlamaRMSNorm's order.
        for (i = 0; i < end; i += W) st(o + i, ld(x + i) * rv * ld(weight + i));
        for (; i < dim; i++) o[i] = x[i] * rs * weight[i];
        rstd[r] = rs;
    }
}

static void rmsnorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight,
                               const float *rstd, size_t r0, size_t r1, size_t dim) {
    // dx = rstd * (w g - x * rstd^2 * mean(w g x)).
    size_t end = dim - dim % W;
    for (size_t r = r0; r < r1; r++) {
        const float *x = inp + r * dim, *g = dout + r * dim;
        float *d = dinp + r * dim;
        vf acc = splat(0);
        size_t i;
        for (i = 0; i < end; i += W) acc += ld(weight + i) * ld(g + i) * ld(x + i);
        float dot = hsum(acc);
        for (; i < dim; i++) dot += weight[i] * g[i] * x[i];
        float rs = rstd[r], k = rs * rs * dot / (float)dim;
        vf rv = splat(rs), kv = splat(k);
        for (i = 0; i < end; i += W) st(d + i, ld(d + i) + (ld(weight + i) * ld(g + i) - ld(x + i) * kv) * rv);
        for (; i < dim; i++) d[i] += (weight[i] * g[i] - x[i] * k) * rs;
    }
}

static void rmsnorm_param_grad(float *dweight, const float *dout, const float *inp, const float *rstd,
                               size_t rows, size_t dim, size_t c0, size_t c1) {
    // Column blocks summed over every row in registers, as layernorm_param_grad.
    size_t i = c0;
    for (; i + 2 * W <= c1; i += 2 * W) {
        vf w0 = splat(0), w1 = splat(0);
        for (size_t r = 0; r < rows; r++) {
            const float *x = inp + r * dim + i, *g = dout + r * dim + i;
            vf rv = splat(rstd[r]);
            w0 += ld(x) * rv * ld(g);
            w1 += ld(x + W) * rv * ld(g + W);
        }
        st(dweight + i, ld(dweight + i) + w0);
        st(dweight + i + W, ld(dweight + i + W) + w1);
    }
    for (; i < c1; i++) {
        float ws = 0;
        for (size_t r = 0; r < rows; r++) ws += inp[r * dim + i] * rstd[r] * dout[r * dim + i];
        dweight[i] += ws;
    }
}

static inline __attribute__((always_inline)) vf sigmoid(vf x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }

static void swiglu_forward(float *out, const float *gate_up, size_t r0, size_t r1, size_t hidden) {
    for (size_t r = r0; r < r1; r++) {
        const float *g = gate_up + r * 2 * hidden, *u = g + hidden;
        float *o = out + r * hidden;
        size_t i = 0;
        for (; i + W <= hidden; i += W) { vf x = ld(g + i); st(o + i, x * sigmoid(x) * ld(u + i)); }
        if (i < hidden) {
            size_t k = hidden - i;
            vf x = ldp(g + i, k, 0);
            stp(o + i, x * sigmoid(x) * ldp(u + i, k, 0), k);
        }
    }
}

/// d gate = dout * up * s (1 + x (1 - s)), d up = dout * x s, with s = sigmoid(x), x the gate.
static inline __attribute__((always_inline)) void swiglu_grad(vf x, vf u, vf d, vf *dg, vf *du) {
    vf s = sigmoid(x);
    *dg = d * u * s * (splat(1.0f) + x * (splat(1.0f) - s));
    *du = d * x * s;
}

static void swiglu_backward(float *dgate_up, const float *dout, const float *gate_up, size_t r0, size_t r1,
                            size_t hidden) {
    for (size_t r = r0; r < r1; r++) {
        const float *g = gate_up + r * 2 * hidden, *u = g + hidden, *d = dout + r * hidden;
        float *dg = dgate_up + r * 2 * hidden, *du = dg + hidden;
        vf a, b;
        size_t i = 0;
        for (; i + W <= hidden; i += W) {
            swiglu_grad(ld(g + i), ld(u + i), ld(d + i), &a, &b);
            st(dg + i, a);
            st(du + i, b);
        }
        if (i < hidden) {
            size_t k = hidden - i;
            swiglu_grad(ldp(g + i, k, 0), ldp(u + i, k, 0), ldp(d + i, k, 0), &a, &b);
            stp(dg + i, a, k);
            stp(du + i, b, k);
        }
    }
}

static void rope_rotate(float *x, size_t row_stride, size_t first_column, size_t heads, size_t head_dim,
                        size_t r0, size_t r1, size_t seq, size_t position_offset, const float *cos_table,
                        const float *sin_table, int inverse) {
    size_t half = head_dim / 2;
    vf sign = splat(inverse ? -1.0f : 1.0f);
    for (size_t r = r0; r < r1; r++) {
        size_t position = position_offset + r % seq;
        const float *c = cos_table + position * half, *s = sin_table + position * half;
        for (size_t h = 0; h < heads; h++) {
            float *a = x + r * row_stride + first_column + h * head_dim, *b = a + half;
            size_t i = 0;
            for (; i + W <= half; i += W) {
                vf av = ld(a + i), bv = ld(b + i), cv = ld(c + i), sv = ld(s + i) * sign;
                st(a + i, av * cv - bv * sv);
                st(b + i, bv * cv + av * sv);
            }
            for (; i < half; i++) {
                float av = a[i], bv = b[i], sv = inverse ? -s[i] : s[i];
                a[i] = av * c[i] - bv * sv;
                b[i] = bv * c[i] + av * sv;
            }
        }
    }
}
