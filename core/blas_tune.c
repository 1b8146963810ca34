/* blas_tune.c - detect OpenBLAS's generic-kernel fallback (see blas.h). */
#include "brainstage/blas.h"

#include <stdlib.h>
#include <string.h>

/* OpenBLAS-only entry point; weak so that another CBLAS still links. */
extern char *openblas_get_corename(void) __attribute__((weak));

const char *bs_blas_corename(void)
{
    if (!openblas_get_corename)
        return "unknown";
    const char *name = openblas_get_corename();
    return name && *name ? name : "unknown";
}

/* Vector width the kernels of a family use: 0 = pre-AVX2 (SSE/AVX),
 * 1 = AVX2 + FMA, 2 = AVX-512.  Names are OpenBLAS's core names. */
static int family_level(const char *name)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "Zen4", NULL};
    static const char *const avx2[] = {"Haswell", "Zen", NULL};
    for (int i = 0; avx512[i]; i++)
        if (!strcasecmp(name, avx512[i]))
            return 2;
    for (int i = 0; avx2[i]; i++)
        if (!strcasecmp(name, avx2[i]))
            return 1;
    return 0;
}

const char *bs_blas_better_coretype(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if ((forced && *forced) || !openblas_get_corename)
        return NULL;
    __builtin_cpu_init();
    int cpu = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        cpu = 1;
    /* OpenBLAS's SkylakeX kernels need F, CD, BW, DQ and VL. */
    if (cpu == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        cpu = 2;
    /* Only a fallback below AVX2 is corrected: an AVX2 family on an AVX-512
     * CPU (AMD Zen 4/5 under older OpenBLAS) is a deliberate choice there. */
    if (cpu == 0 || family_level(bs_blas_corename()) > 0)
        return NULL;
    return cpu == 2 ? "SkylakeX" : "Haswell";
#else
    return NULL;
#endif
}
