// One function table per instruction set; cpu.c picks the one the CPU runs.
#ifndef FK_TABLE_H
#define FK_TABLE_H
#include "CKernels.h"

struct fk_table {
    void (*gelu_forward)(float *, const float *, size_t);
    void (*gelu_backward)(float *, const float *, const float *, size_t);
    void (*softmax_row)(float *, size_t, size_t);
    void (*softmax_backward_row)(float *, const float *, size_t, float);
    void (*layernorm_forward)(float *, float *, float *, const float *, const float *, const float *,
                              size_t, size_t, size_t, float);
    void (*layernorm_input_grad)(float *, const float *, const float *, const float *, const float *,
                                 const float *, size_t, size_t, size_t);
    void (*layernorm_param_grad)(float *, float *, const float *, const float *, const float *, const float *,
                                 size_t, size_t, size_t, size_t);
    void (*cross_entropy)(float *, const int32_t *, size_t, size_t, size_t, int, float, double *);
    void (*adamw)(float *, float *, float *, float *, size_t, float, float, float, float, float, long, int);
    void (*add)(float *, const float *, const float *, size_t);
    void (*column_sums)(float *, const float *, size_t, size_t, size_t, size_t);
    void (*exp)(float *, const float *, size_t);
    void (*attention_forward)(float *, float *, const float *, size_t, size_t, size_t, size_t, size_t);
    void (*attention_backward)(float *, const float *, const float *, const float *, float *, size_t, size_t, size_t,
                               size_t, size_t);
    void (*rmsnorm_forward)(float *, float *, const float *, const float *, size_t, size_t, size_t, float);
    void (*rmsnorm_input_grad)(float *, const float *, const float *, const float *, const float *, size_t, size_t,
                               size_t);
    void (*rmsnorm_param_grad)(float *, const float *, const float *, const float *, size_t, size_t, size_t, size_t);
    void (*swiglu_forward)(float *, const float *, size_t, size_t, size_t);
    void (*swiglu_backward)(float *, const float *, const float *, size_t, size_t, size_t);
    void (*rope_rotate)(float *, size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t, const float *,
                        const float *, int);
};

extern const struct fk_table fk_table_baseline;
#if defined(__x86_64__)
extern const struct fk_table fk_table_avx2;
extern const struct fk_table fk_table_avx512;
#endif
#endif
