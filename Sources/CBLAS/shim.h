// OpenBLAS's CBLAS interface, linked against libopenblas directly rather than the
// libblas alternative, so the speed we measure is always OpenBLAS's.
#include <cblas-openblas.h>

// Stops OpenBLAS's worker threads (they restart on the next multi-threaded call). Exported by
// libopenblas for its fork handler; not in its headers.
void blas_thread_shutdown_(void);
