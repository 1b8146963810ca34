/* nn/threads.c - thread-count control (OpenMP and OpenBLAS) and seed mixing. */
#include "nn/nn_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS exports this; declared here because cblas.h variants differ. */
extern void openblas_set_num_threads(int num_threads);

void nn_set_num_threads(int n)
{
    if (n < 1)
        n = 1;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

int nn_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

uint64_t nn_seed_mix(uint64_t seed, uint64_t a, uint64_t b)
{
    return bs_splitmix64(bs_splitmix64(bs_splitmix64(seed) ^ a) ^ (b + 0x632be59bd9b4e019ULL));
}
