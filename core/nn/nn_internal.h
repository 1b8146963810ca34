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

/* Loops shorter than this run serially: thread start-up costs more. */
#define NN_PAR_MIN 8192

/* Uniform in [0,1) from a counter-based hash of (seed, index): the same
 * value whichever thread draws it. */
static inline double nn_hash_uniform(uint64_t seed, uint64_t index)
{
    uint64_t h = bs_splitmix64(seed + index * 0x9e3779b97f4a7c15ULL);
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Seed of a dropout call, decorrelated from nearby user seeds. */
static inline uint64_t nn_dropout_stream(uint64_t seed) { return bs_splitmix64(seed ^ 0xd1b54a32d192ed03ULL); }

#endif
