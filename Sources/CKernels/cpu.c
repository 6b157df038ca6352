// CPU feature detection and the choice of kernel path, plus the public entry points, which call
// through the chosen path's function table.
#include <stdlib.h>
#include <string.h>
#include "table.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif

unsigned fk_cpu_features(void) {
    unsigned f = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
    if (__builtin_cpu_supports("avx")) f |= FK_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) f |= FK_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= FK_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= FK_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= FK_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) f |= FK_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) f |= FK_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512bf16")) f |= FK_CPU_AVX512BF16;
    if (__builtin_cpu_supports("avx512fp16")) f |= FK_CPU_AVX512FP16;
    if (__builtin_cpu_supports("amx-tile")) f |= FK_CPU_AMX;
#endif
    return f;
}

const char *fk_cpu_model(void) {
    static char brand[49];
#if defined(__x86_64__)
    unsigned regs[12] = {0};
    if (brand[0] == 0 && __get_cpuid_max(0x80000000u, 0) >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
        memcpy(brand, regs, 48);
        brand[48] = 0;
    }
#endif
    const char *s = brand;
    while (*s == ' ') s++;
    return s;
}

static int path_supported(fk_path path) {
    unsigned f = fk_cpu_features();
    const unsigned avx512 = FK_CPU_AVX512F | FK_CPU_AVX512BW | FK_CPU_AVX512DQ | FK_CPU_AVX512VL;
    switch (path) {
    case FK_PATH_BASELINE: return 1;
#if defined(__x86_64__)
    case FK_PATH_AVX2: return (f & (FK_CPU_AVX2 | FK_CPU_FMA)) == (FK_CPU_AVX2 | FK_CPU_FMA);
    case FK_PATH_AVX512: return (f & avx512) == avx512 && path_supported(FK_PATH_AVX2);
#endif
    default: return 0;
    }
}

fk_path fk_best_path(void) {
    if (path_supported(FK_PATH_AVX512)) return FK_PATH_AVX512;
    if (path_supported(FK_PATH_AVX2)) return FK_PATH_AVX2;
    return FK_PATH_BASELINE;
}

const char *fk_path_name(fk_path path) {
    switch (path) {
    case FK_PATH_AVX2: return "avx2+fma";
    case FK_PATH_AVX512: return "avx512";
    default: return "baseline";
    }
}

static const struct fk_table *table_for(fk_path path) {
#if defined(__x86_64__)
    if (path == FK_PATH_AVX512) return &fk_table_avx512;
    if (path == FK_PATH_AVX2) return &fk_table_avx2;
#endif
    return &fk_table_baseline;
}

static const struct fk_table *selected;
static fk_path selected_path;

static const struct fk_table *table(void) {
    const struct fk_table *t = __atomic_load_n(&selected, __ATOMIC_ACQUIRE);
    if (t) return t;
    fk_path path = fk_best_path();
    const char *forced = getenv("FEDCYBGD_KERNELS");
    if (forced) {
        for (int p = FK_PATH_BASELINE; p <= FK_PATH_AVX512; p++)
            if (strcmp(forced, fk_path_name((fk_path)p)) == 0 || (p == FK_PATH_AVX2 && strcmp(forced, "avx2") == 0))
                if (path_supported((fk_path)p)) path = (fk_path)p;
    }
    fk_select_path(path);
    return __atomic_load_n(&selected, __ATOMIC_ACQUIRE);
}

fk_path fk_current_path(void) {
    table();
    return selected_path;
}

int fk_select_path(fk_path path) {
    if (!path_supported(path)) return 0;
    selected_path = path;
    __atomic_store_n(&selected, table_for(path), __ATOMIC_RELEASE);
    return 1;
}

void fk_gelu_forward(float *out, const float *inp, size_t n) { table()->gelu_forward(out, inp, n); }
void fk_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) { table()->gelu_backward(dinp, dout, inp, n); }
void fk_softmax_row(float *x, size_t n, size_t len) { table()->softmax_row(x, n, len); }
void fk_softmax_backward_row(float *dp, const float *p, size_t n, float scale) { table()->softmax_backward_row(dp, p, n, scale); }
void fk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                          const float *bias, size_t r0, size_t r1, size_t dim, float eps) {
    table()->layernorm_forward(out, mean, rstd, inp, weight, bias, r0, r1, dim, eps);
}
void fk_layernorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight,
                             const float *mean, const float *rstd, size_t r0, size_t r1, size_t dim) {
    table()->layernorm_input_grad(dinp, dout, inp, weight, mean, rstd, r0, r1, dim);
}
void fk_layernorm_param_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *mean, const float *rstd, size_t rows, size_t dim, size_t c0, size_t c1) {
    table()->layernorm_param_grad(dweight, dbias, dout, inp, mean, rstd, rows, dim, c0, c1);
}
void fk_cross_entropy(float *logits, const int32_t *targets, size_t r0, size_t r1, size_t vocab,
                      int has_gradient, float gradient_scale, double *losses) {
    table()->cross_entropy(logits, targets, r0, r1, vocab, has_gradient, gradient_scale, losses);
}
void fk_adamw(float *params, float *grads, float *m, float *v, size_t count, float lr,
              float beta1, float beta2, float eps, float weight_decay, long step, int zero_grads) {
    table()->adamw(params, grads, m, v, count, lr, beta1, beta2, eps, weight_decay, step, zero_grads);
}
void fk_add(float *out, const float *a, const float *b, size_t n) { table()->add(out, a, b, n); }
void fk_column_sums(float *sums, const float *m, size_t rows, size_t cols, size_t c0, size_t c1) {
    table()->column_sums(sums, m, rows, cols, c0, c1);
}
void fk_exp(float *out, const float *inp, size_t n) { table()->exp(out, inp, n); }
void fk_attention_forward(float *out, float *lse, const float *qkv, size_t seq, size_t channels, size_t heads,
                          size_t bh0, size_t bh1) {
    table()->attention_forward(out, lse, qkv, seq, channels, heads, bh0, bh1);
}
void fk_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse, float *ds, size_t seq,
                           size_t channels, size_t heads, size_t bh0, size_t bh1) {
    table()->attention_backward(dqkv, dout, qkv, lse, ds, seq, channels, heads, bh0, bh1);
}
void fk_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t r0, size_t r1,
                        size_t dim, float eps) {
    table()->rmsnorm_forward(out, rstd, inp, weight, r0, r1, dim, eps);
}
void fk_rmsnorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight, const float *rstd,
                           size_t r0, size_t r1, size_t dim) {
    table()->rmsnorm_input_grad(dinp, dout, inp, weight, rstd, r0, r1, dim);
}
void fk_rmsnorm_param_grad(float *dweight, const float *dout, const float *inp, const float *rstd, size_t rows,
                           size_t dim, size_t c0, size_t c1) {
    table()->rmsnorm_param_grad(dweight, dout, inp, rstd, rows, dim, c0, c1);
}
void fk_swiglu_forward(float *out, const float *gate_up, size_t r0, size_t r1, size_t hidden) {
    table()->swiglu_forward(out, gate_up, r0, r1, hidden);
}
void fk_swiglu_backward(float *dgate_up, const float *dout, const float *gate_up, size_t r0, size_t r1, size_t hidden) {
    table()->swiglu_backward(dgate_up, dout, gate_up, r0, r1, hidden);
}
void fk_rope_rotate(float *x, size_t row_stride, size_t first_column, size_t heads, size_t head_dim, size_t r0,
                    size_t r1, size_t seq, size_t position_offset, const float *cos_table, const float *sin_table,
                    int inverse) {
    table()->rope_rotate(x, row_stride, first_column, heads, head_dim, r0, r1, seq, position_offset, cos_table,
                         sin_table, inverse);
}
