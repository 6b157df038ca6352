// The kernels for any x86-64 (SSE2) or other CPU: 4-wide vectors (SSE).
#define FK_WIDTH 4
#define FK_TABLE fk_table_baseline
#include "kernels_impl.h"
