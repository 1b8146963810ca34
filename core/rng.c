/* rng.c - seeded RNG on GSL's mt19937. */
#include "brainstage/rng.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

struct bs_rng {
    gsl_rng *g;
};

uint64_t bs_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* mt19937 takes an unsigned long seed; fold 64 bits so nearby seeds differ. */
static unsigned long fold_seed(uint64_t seed)
{
    uint64_t m = bs_splitmix64(seed);
    unsigned long s = (unsigned long)(m ^ (m >> 32));
    return s ? s : 4357UL; /* mt19937 treats 0 as its default seed */
}

bs_rng *bs_rng_new(uint64_t seed)
{
    bs_rng *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    r->g = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r->g) {
        free(r);
        return NULL;
    }
    gsl_rng_set(r->g, fold_seed(seed));
    return r;
}

bs_rng *bs_rng_derive(uint64_t seed, uint64_t stream)
{
    return bs_rng_new(bs_splitmix64(seed) ^ bs_splitmix64(stream + 0x632be59bd9b4e019ULL));
}

void bs_rng_free(bs_rng *rng)
{
    if (!rng)
        return;
    gsl_rng_free(rng->g);
    free(rng);
}

void bs_rng_reseed(bs_rng *rng, uint64_t seed) { gsl_rng_set(rng->g, fold_seed(seed)); }

double bs_rng_uniform(bs_rng *rng) { return gsl_rng_uniform(rng->g); }

uint64_t bs_rng_uniform_int(bs_rng *rng, uint64_t n)
{
    if (n <= 1)
        return 0;
    if (n <= 0xffffffffULL)
        return gsl_rng_uniform_int(rng->g, (unsigned long)n);
    /* mt19937 yields 32 bits per call; compose for larger ranges. */
    uint64_t hi = gsl_rng_get(rng->g), lo = gsl_rng_get(rng->g);
    return ((hi << 32) | lo) % n;
}

double bs_rng_gaussian(bs_rng *rng, double sigma) { return gsl_ran_gaussian_ziggurat(rng->g, sigma); }

void bs_rng_partial_shuffle(bs_rng *rng, int32_t *idx, int32_t n, int32_t k)
{
    for (int32_t i = 0; i < k && i < n - 1; i++) {
        int32_t j = i + (int32_t)gsl_rng_uniform_int(rng->g, (unsigned long)(n - i));
        int32_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

size_t bs_rng_state_size(const bs_rng *rng) { return gsl_rng_size(rng->g); }
const void *bs_rng_state(const bs_rng *rng) { return gsl_rng_state(rng->g); }

int bs_rng_set_state(bs_rng *rng, const void *state, size_t size)
{
    if (size != gsl_rng_size(rng->g))
        return -1;
    memcpy(gsl_rng_state(rng->g), state, size);
    return 0;
}
