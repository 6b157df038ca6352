// OpenBLAS's CBLAS interface, linked against libopenblas directly rather than the
// libblas alternative, so the speed we measure is always OpenBLAS's.
#include <cblas-openblas.h>
