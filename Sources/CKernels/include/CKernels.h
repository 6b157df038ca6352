// The engine's element-wise kernels in C, compiled once per instruction set (baseline x86-64,
// AVX2 + FMA, AVX-512) and chosen at run time: Swift has no per-function target attributes, so
// this is how one binary uses the vector units the CPU has. Swift's Kernels module splits the work
// across threads and calls these serial functions on disjoint ranges.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Vector features of the CPU, as bits of `fk_cpu_features()`.
enum {
    FK_CPU_AVX = 1 << 0,
    FK_CPU_AVX2 = 1 << 1,
    FK_CPU_FMA = 1 << 2,
    FK_CPU_AVX512F = 1 << 3,
    FK_CPU_AVX512BW = 1 << 4,
    FK_CPU_AVX512DQ = 1 << 5,
    FK_CPU_AVX512VL = 1 << 6,
    FK_CPU_AVX512BF16 = 1 << 7,
    FK_CPU_AVX512FP16 = 1 << 8,
    FK_CPU_AMX = 1 << 9,
};

/// The instruction sets the kernels are compiled for.
typedef enum { FK_PATH_BASELINE = 0, FK_PATH_AVX2 = 1, FK_PATH_AVX512 = 2 } fk_path;

/// One worker's share of a parallel region: called with the caller's context and the worker index.
typedef void (*fk_pool_task)(void *context, long worker);
/// Runs task(context, w) for every w in 0..<workers at once, on the caller and the pool's helper
/// threads (which spin briefly between regions, then sleep); returns when all are done.
void fk_pool_run(long workers, fk_pool_task task, void *context);

/// The CPU's vector features (FK_CPU_* bits), as the CPU and the OS report them.
unsigned fk_cpu_features(void);
/// The CPU's brand string ("AMD EPYC ...", "Intel(R) Xeon(R) ..."), or "" when it has none.
const char *fk_cpu_model(void);
/// The best path this CPU runs.
fk_path fk_best_path(void);
/// The path in use. The first kernel call picks `fk_best_path()`, or the one named by the
/// environment variable FEDCYBGD_KERNELS (baseline, avx2, avx512) when this CPU runs it.
fk_path fk_current_path(void);
/// Selects a path; returns 0 when this CPU cannot run it (the path is then unchanged).
int fk_select_path(fk_path path);
/// "baseline (SSE2)", "avx2+fma", "avx512".
const char *fk_path_name(fk_path path);

// GELU, tanh approximation (Hugging Face "gelu_new").
void fk_gelu_forward(float *out, const float *inp, size_t n);
void fk_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

// Softmax of x[0..<n] in place, with x[n..<len] set to 0 (the causal mask's zeros).
void fk_softmax_row(float *x, size_t n, size_t len);
// dp[0..<n] = scale * p * (dp - sum(p * dp)).
void fk_softmax_backward_row(float *dp, const float *p, size_t n, float scale);

// LayerNorm over rows [r0, r1) of [rows, dim].
void fk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                          const float *bias, size_t r0, size_t r1, size_t dim, float eps);
void fk_layernorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight,
                             const float *mean, const float *rstd, size_t r0, size_t r1, size_t dim);
// dweight[c] += sum_r norm[r,c] * dout[r,c], dbias[c] += sum_r dout[r,c], for columns [c0, c1).
void fk_layernorm_param_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *mean, const float *rstd, size_t rows, size_t dim, size_t c0, size_t c1);

// Cross-entropy of rows [r0, r1): losses[r] = logsumexp - x[target] (0 for negative targets);
// with has_gradient, each row becomes gradient_scale * (softmax - onehot) (zeros when ignored).
void fk_cross_entropy(float *logits, const int32_t *targets, size_t r0, size_t r1, size_t vocab,
                      int has_gradient, float gradient_scale, double *losses);

// AdamW with torch.optim.AdamW's arithmetic, over count parameters, step counting from 1; with
// zero_grads, the gradients are set to 0 in the same pass (saving the next step's separate zeroing).
void fk_adamw(float *params, float *grads, float *m, float *v, size_t count, float lr,
              float beta1, float beta2, float eps, float weight_decay, long step, int zero_grads);

// out = a + b (out may alias a or b); sums[c] += sum over rows of m[r, c] for columns [c0, c1).
void fk_add(float *out, const float *a, const float *b, size_t n);
void fk_column_sums(float *sums, const float *m, size_t rows, size_t cols, size_t c0, size_t c1);

// out = e^inp, the exponential the kernels use (inputs clamped to [-87.3, 88]).
void fk_exp(float *out, const float *inp, size_t n);

// Causal attention over qkv [B, T, 3C] for the (batch, head) pairs bh in [bh0, bh1): out [B, T, C]
// gets softmax(Q K^T / sqrt(hs)) V, and (unless lse is NULL) each softmax row's log-sum-exp goes to
// lse[bh * T + t]. The backward pass recomputes the probabilities from Q, K and those log-sum-exps and
// overwrites dqkv's q, k and v columns of those pairs from dout, with ds as one [T, T] scratch map.
void fk_attention_forward(float *out, float *lse, const float *qkv, size_t seq, size_t channels, size_t heads,
                          size_t bh0, size_t bh1);
void fk_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse, float *ds, size_t seq,
                           size_t channels, size_t heads, size_t bh0, size_t bh1);

// RMSNorm (Llama) over rows [r0, r1) of [rows, dim]: out = inp * rstd * weight, saving rstd per row.
// The input gradient is added to dinp; dweight[c] += sum_r inp[r,c] * rstd[r] * dout[r,c] for columns [c0, c1).
void fk_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t r0, size_t r1,
                        size_t dim, float eps);
void fk_rmsnorm_input_grad(float *dinp, const float *dout, const float *inp, const float *weight, const float *rstd,
                           size_t r0, size_t r1, size_t dim);
void fk_rmsnorm_param_grad(float *dweight, const float *dout, const float *inp, const float *rstd, size_t rows,
                           size_t dim, size_t c0, size_t c1);

// SwiGLU over rows [r0, r1): gate_up rows are [gate | up] (2 * hidden), out[r, i] = silu(gate) * up;
// the backward pass overwrites both halves of dgate_up's rows from dout [rows, hidden].
void fk_swiglu_forward(float *out, const float *gate_up, size_t r0, size_t r1, size_t hidden);
void fk_swiglu_backward(float *dgate_up, const float *dout, const float *gate_up, size_t r0, size_t r1, size_t hidden);

// Rotary embedding (rotate-half layout) in place on rows [r0, r1) of x (row_stride floats apart): heads of
// head_dim floats from first_column, row r at position position_offset + r % seq, with the [positions,
// head_dim / 2] cos/sin tables; inverse rotates by the negative angle.
void fk_rope_rotate(float *x, size_t row_stride, size_t first_column, size_t heads, size_t head_dim, size_t r0,
                    size_t r1, size_t seq, size_t position_offset, const float *cos_table, const float *sin_table,
                    int inverse);

// A 64-bit checksum of `bytes` bytes (checkpoint tensors are stored with it; see checksum.c).
uint64_t fk_checksum64(const void *data, size_t bytes);

#endif
