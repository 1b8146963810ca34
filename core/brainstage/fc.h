/* brainstage/fc.h - functional connectivity matrices from ROI time series.
 *
 * Kinds (docs/fc.md):
 *   pearson      r_ij of the columns (centre, scale to unit norm, cblas_ssyrk).
 *   partial      -P_ij / sqrt(P_ii P_jj) with P = (C + ridge*I)^-1, C the
 *                Pearson matrix, inverted through a GSL Cholesky factor.
 *   ledoit_wolf  nilearn ConnectivityMeasure(kind='correlation') with its
 *                default LedoitWolf estimator: (1 - delta) * r_ij off the
 *                diagonal, 1 on it, delta = sklearn's ledoit_wolf_shrinkage
 *                of the z-scored columns (BrainMass parity).
 * fisher_z applies atanh to the off-diagonal and sets the diagonal to 0.
 * A column that is not finite or has zero variance makes its row and
 * column NaN (the caller is told how many; never a silent 0). */
#ifndef BRAINSTAGE_FC_H
#define BRAINSTAGE_FC_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_fc_kind {
    BS_FC_PEARSON = 0,
    BS_FC_PARTIAL = 1,
    BS_FC_LEDOIT_WOLF = 2
} bs_fc_kind;

/* "pearson", "partial", "ledoit_wolf" (also "ledoit-wolf", "lw"). */
int bs_fc_kind_parse(const char *name, bs_fc_kind *out, bs_error *err);
const char *bs_fc_kind_name(bs_fc_kind kind);

typedef struct bs_fc_options {
    bs_fc_kind kind;       /* default BS_FC_PEARSON */
    int fisher_z;          /* default 0 */
    double partial_ridge;  /* added to the diagonal of C before inversion (default 0.01) */
} bs_fc_options;

void bs_fc_options_init(bs_fc_options *o);

/* The value of the BIDS stat- entity that names the matrix in output files
 * (XCP-D / BEP017 style, lower case, letters only): pearsoncorrelation
 * (XCP-D's name), partialcorrelation, ledoitwolfcorrelation, each prefixed
 * with "fisherz" when fisher_z is set (e.g. fisherzpearsoncorrelation).
 * Static storage. */
const char *bs_fc_stat_name(const bs_fc_options *o);

typedef struct bs_fc_info {
    int64_t n_undefined;   /* ROIs whose row/column is NaN */
    int64_t first_undefined; /* index of the first such ROI, -1 if none */
    double shrinkage;      /* Ledoit-Wolf delta (ledoit_wolf only, else 0) */
} bs_fc_info;

/* ts: n_rows x n_rois float32, row-major.  out: n_rois * n_rois floats.
 * defined (optional, n_rois bytes): 1 where the ROI had a defined row.
 * info may be NULL. */
int bs_fc_compute(const float *ts, int64_t n_rows, int64_t n_rois, const bs_fc_options *opt, float *out,
                  unsigned char *defined, bs_fc_info *info, bs_error *err);

/* Replaces the upper triangle of the p x p Pearson matrix C (row-major; the
 * diagonal is taken as 1) by partial correlations, P = (C + ridge I)^-1. */
int bs_fc_partial_from_corr(float *C, int64_t p, double ridge, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
