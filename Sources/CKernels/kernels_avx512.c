// The kernels for CPUs with AVX-512 (F, BW, DQ, VL): 16-wide vectors in one zmm register.
#if defined(__x86_64__)
#include <math.h>
#include <string.h>
#include "table.h"
#pragma clang attribute push(__attribute__((target("avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,evex512"), min_vector_width(512))), apply_to = function)
#define FK_WIDTH 16
#define FK_TABLE fk_table_avx512
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
