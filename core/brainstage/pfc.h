/* brainstage/pfc.h - pseudo-functional connectivity (pFC) generator.
 *
 * A pFC is the Pearson correlation matrix of an ROI time series (T x R)
 * computed over a random subset of its time points (BrainMass augmentation).
 * The generator centres the series once on its full mean, keeps the full
 * Gram matrix in double, and per sample computes a float32 Gram (ssyrk) of
 * whichever of the kept or dropped rows is smaller, each set re-centred on
 * its own mean so float rounding is relative to the subset's variance;
 * rank-1 corrections in double rebuild the kept-set covariance.  See
 * docs/pfc.md for the algebra and the accuracy argument.
 *
 * Sample i depends only on (seed, i): its RNG stream is
 * bs_rng_derive(seed, i), so batches may be computed in any order, by any
 * number of threads, in any batch size, with bit-identical results (on a
 * given machine: the vector code path is chosen per CPU).
 *
 * A generator keeps per-thread scratch between calls; use one generator
 * from one calling thread at a time (it parallelises internally). */
#ifndef BRAINSTAGE_PFC_H
#define BRAINSTAGE_PFC_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_pfc_mode {
    BS_PFC_INDIVIDUAL = 0, /* kept points: a uniform random subset */
    BS_PFC_BLOCK = 1       /* kept points: one contiguous block at a uniform random start */
} bs_pfc_mode;

/* What to do with an ROI that is constant over the whole series. */
typedef enum bs_pfc_constant {
    BS_PFC_CONSTANT_ERROR = 0, /* refuse the input (default) */
    BS_PFC_CONSTANT_ZERO = 1   /* its row and column are 0 in every pFC */
} bs_pfc_constant;

typedef struct bs_pfc_options {
    double keep_min, keep_max; /* kept fraction drawn uniformly in [min, max]; equal = fixed */
    bs_pfc_mode mode;
    int fisher;                /* 1: Fisher z = atanh(r), diagonal 0 */
    bs_pfc_constant constant_roi;
    uint64_t seed;
    int threads;               /* OpenMP threads; 0 = omp_get_max_threads() */
} bs_pfc_options;

/* Minimum kept time points of any sample (fewer make correlations trivial). */
#define BS_PFC_MIN_KEPT 3
/* A ROI whose variance over a sample's kept points is below this fraction
 * of its full-series variance is treated as constant within that sample:
 * its row and column are 0 (the reference's NaN -> 0), diagonal included. */
#define BS_PFC_DEGENERATE_RATIO 1e-5

/* keep 0.8, individual, Pearson, constant ROI = error, seed 0, threads 0. */
void bs_pfc_options_default(bs_pfc_options *o);

typedef struct bs_pfc_generator bs_pfc_generator;

/* ts: T x R row-major float32 (copied).  Errors (with `name` in the
 * message): NaN/Inf (row and column named), T too small for keep_min,
 * keep fractions outside (0, 1], a constant ROI under CONSTANT_ERROR. */
bs_pfc_generator *bs_pfc_generator_new(const float *ts, int64_t T, int64_t R, const bs_pfc_options *opt,
                                       const char *name, bs_error *err);
void bs_pfc_generator_free(bs_pfc_generator *g);
int64_t bs_pfc_generator_rois(const bs_pfc_generator *g);
int64_t bs_pfc_generator_timepoints(const bs_pfc_generator *g);
/* Number of ROIs that are constant over the whole series (CONSTANT_ZERO). */
int64_t bs_pfc_generator_constant_rois(const bs_pfc_generator *g);

/* Samples [first, first+n) into out[n][R][R] (float32, full symmetric). */
int bs_pfc_compute(bs_pfc_generator *g, int64_t first, int64_t n, float *out, bs_error *err);
/* The producer interface: the next n samples from the current position
 * (starting at 0), advancing it. */
int bs_pfc_next_batch(bs_pfc_generator *g, int64_t n, float *out, bs_error *err);
int64_t bs_pfc_tell(const bs_pfc_generator *g);
void bs_pfc_seek(bs_pfc_generator *g, int64_t position);
/* New seed (e.g. per epoch); position back to 0. */
void bs_pfc_set_seed(bs_pfc_generator *g, uint64_t seed);

/* Kept time points of sample i, ascending, into kept[T]; *n_kept receives
 * their count.  Reproduces exactly what bs_pfc_compute used (for tests and
 * for auditing an augmentation). */
int bs_pfc_kept_indices(const bs_pfc_generator *g, int64_t sample, int32_t *kept, int32_t *n_kept, bs_error *err);

/* Streams the next n samples (from the current position, which advances)
 * into a safetensors file, atomically and never with the whole batch in
 * memory: tensor "pfc" F32 [n, R, R], then "kept" I32 [n] (kept counts);
 * metadata "format", "timepoints" plus the caller's key/value pairs.
 * `chunk` samples are computed per step (0 = automatic, ~64 MiB). */
int bs_pfc_write_safetensors(bs_pfc_generator *g, int64_t n, int64_t chunk, const char *path, int n_meta,
                             const char *const *meta_keys, const char *const *meta_values, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
