/* brainstage/rng.h - seeded random numbers (GSL mt19937 underneath).
 *
 * Every random draw in brainstage comes from an explicitly seeded bs_rng.
 * For results that must not depend on the thread count, derive one stream
 * per work item with bs_rng_derive(seed, item_index) instead of sharing a
 * generator across threads. */
#ifndef BRAINSTAGE_RNG_H
#define BRAINSTAGE_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_rng bs_rng;

bs_rng *bs_rng_new(uint64_t seed);
/* Independent stream for work item `stream` under `seed` (splitmix64 mixing). */
bs_rng *bs_rng_derive(uint64_t seed, uint64_t stream);
void bs_rng_free(bs_rng *rng);
void bs_rng_reseed(bs_rng *rng, uint64_t seed);

double bs_rng_uniform(bs_rng *rng);              /* [0, 1) */
uint64_t bs_rng_uniform_int(bs_rng *rng, uint64_t n); /* [0, n), n >= 1 */
double bs_rng_gaussian(bs_rng *rng, double sigma);
/* Fisher-Yates: the first k entries of idx[0..n) become a uniform random
 * k-subset in random order (idx must hold a permutation on entry). */
void bs_rng_partial_shuffle(bs_rng *rng, int32_t *idx, int32_t n, int32_t k);

/* Serialise/restore full generator state (for exact training resume).
 * bs_rng_state_size() bytes. */
size_t bs_rng_state_size(const bs_rng *rng);
const void *bs_rng_state(const bs_rng *rng);
int bs_rng_set_state(bs_rng *rng, const void *state, size_t size);

uint64_t bs_splitmix64(uint64_t x);

#ifdef __cplusplus
}
#endif
#endif
