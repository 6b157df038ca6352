// The kernels for CPUs with AVX2 and FMA: 8-wide vectors in one ymm register.
#if defined(__x86_64__)
#include <math.h>
#include <string.h>
#include "table.h"
#pragma clang attribute push(__attribute__((target("avx,avx2,fma,f16c"))), apply_to = function)
#define FK_WIDTH 8
#define FK_TABLE fk_table_avx2
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
