/* nn/nn_internal.h - private helpers shared by the nn core sources.
 *
 * Not installed.  Op families are written once in <family>_impl.h against
 * the macros of real_begin.h and instantiated for float and double by their
 * .c file (see linear.c for the pattern). */
#ifndef BRAINSTAGE_NN_INTERNAL_H
#define BRAINSTAGE_NN_INTERNAL_H

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nn.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"

/* Hot loops get clones for the x86-64 ISA levels v4 (AVX-512) and v3 (AVX2 +
 * FMA), picked at load time (GNU ifunc) from what the CPU has (the baseline
 * build only assumes SSE2), and the vectoriser's full cost model (-O2 only
 * vectorises loops that need no checks, which excludes the omp simd
 * reductions).  The clone is fixed per machine, so results stay
 * reproducible there. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 12
#define NN_HOT                                                                                \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),            \
                   optimize("vect-cost-model=dynamic"), noinline))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NN_HOT __attribute__((target_clones("avx2", "default"), optimize("vect-cost-model=dynamic"), noinline))
#else
#define NN_HOT
#endif

/* Width in bytes of the explicit vector types of the register-blocked
 * kernels (GCC vector extensions; 16 floats or 8 doubles).  The compiler
 * maps them onto whatever the clone has: one zmm, two ymm or four xmm. */
#define NN_VBYTES 64

/* Loops shorter than this run serially: thread start-up costs more. */
#define NN_PAR_MIN 8192

/* Uniform in [0,1) from a counter-based hash of (seed, index): the same
 * value whichever thread draws it. */
static inline double nn_hash_uniform(uint64_t seed, uint64_t index)
{
    uint64_t h = bs_splitmix64(seed + index * 0x9e3779b97f4a7c15ULL);
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Keep test of inverted dropout on integers: nn_hash_uniform(seed, i) >= p
 * holds exactly when the 53 hashed bits are >= ceil(p * 2^53) (both sides
 * are exact in double), so this gives the same masks as the double compare
 * while vectorising (64-bit integer lanes only). */
static inline uint64_t nn_keep_threshold(float p)
{
    return (uint64_t)ceil((double)p * 0x1.0p53);
}
/* bs_splitmix64, inline so that loops over it vectorise. */
static inline uint64_t nn_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static inline int nn_hash_keep(uint64_t seed, uint64_t index, uint64_t threshold)
{
    return (nn_mix64(seed + index * 0x9e3779b97f4a7c15ULL) >> 11) >= threshold;
}

/* Seed of a dropout call, decorrelated from nearby user seeds. */
static inline uint64_t nn_dropout_stream(uint64_t seed) { return bs_splitmix64(seed ^ 0xd1b54a32d192ed03ULL); }

#endif
