/* brainstage/clean.h - denoising of ROI time series with fMRIPrep confounds.
 *
 * bs_clean() follows XCP-D's order of operations (docs/clean.md):
 *   dummy-scan removal -> FD flagging -> interpolation of flagged volumes
 *   -> detrend -> Butterworth band-pass of BOLD and confounds
 *   -> regression fitted on low-motion volumes -> censoring -> z-score.
 * Everything runs in double precision; input and output are float32 [T, R].
 * Columns that contain NaN (low-coverage ROIs) stay NaN and take no part in
 * any step. */
#ifndef BRAINSTAGE_CLEAN_H
#define BRAINSTAGE_CLEAN_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- confounds ------------------------------------------------------- */

typedef enum bs_clean_strategy {
    BS_CLEAN_NONE = 0,     /* no regression (detrend/filter/censor only) */
    BS_CLEAN_24P = 1,      /* 6 motion + derivatives + squares of both */
    BS_CLEAN_36P = 2,      /* 24P + csf, white_matter, global_signal expanded the same way */
    BS_CLEAN_ACOMPCOR = 3, /* 6 motion + derivatives + first n a_comp_cor_XX */
    BS_CLEAN_CUSTOM = 4,   /* exactly the columns listed by the caller */
    BS_CLEAN_ACOMPCOR_WMCSF = 5 /* XCP-D's acompcor: 6 motion + derivatives, the first n retained WM and
                                 * n CSF components (Mask in the confounds JSON), every cosine_XX */
} bs_clean_strategy;

/* "none", "24P", "36P", "aCompCor", "aCompCorWMCSF", "custom" (case-insensitive). */
int bs_clean_strategy_parse(const char *name, bs_clean_strategy *out, bs_error *err);
const char *bs_clean_strategy_name(bs_clean_strategy s);

typedef struct bs_confounds {
    int64_t n_rows;
    int n_cols;
    char **names;      /* n_cols selected regressor names */
    double *values;    /* n_rows * n_cols, row-major; finite */
    double *fd;        /* n_rows framewise displacement (row 0 = 0), or NULL if absent */
    int n_nonsteady;   /* leading volumes flagged by non_steady_state_outlier_XX */
} bs_confounds;

/* Reads an fMRIPrep desc-confounds_timeseries.tsv and selects the regressors
 * of `strategy` plus `extra_columns` (comma-separated names, may be NULL or
 * ""; for BS_CLEAN_CUSTOM they are the whole model).  `n/a` in the first row
 * (derivative, FD, DVARS columns) becomes 0; n/a anywhere else in a selected
 * column is an error.  acompcor_n: components for BS_CLEAN_ACOMPCOR (per
 * tissue for BS_CLEAN_ACOMPCOR_WMCSF, which also reads the confounds JSON
 * next to path: <path without .tsv>.json). */
bs_confounds *bs_confounds_load(const char *path, bs_clean_strategy strategy,
                                const char *extra_columns, int acompcor_n, bs_error *err);
void bs_confounds_free(bs_confounds *c);

/* ---- Butterworth filter ------------------------------------------------ */

#define BS_SOS_MAX 16

/* Cascade of second-order sections, each {b0, b1, b2, 1, a1, a2} (scipy's
 * sos layout).  First-order sections have b2 = a2 = 0. */
typedef struct bs_sos_filter {
    int n_sections;
    double sos[BS_SOS_MAX][6];
} bs_sos_filter;

/* Digital Butterworth design (bilinear transform with pre-warping, like
 * scipy.signal.butter(order, ..., output='sos', fs=fs)).  high_pass_hz and
 * low_pass_hz are the lower and upper band edges; 0 disables an edge; both
 * non-zero = band-pass (2*order poles).  Edges must lie in (0, fs/2). */
int bs_butterworth_design(int order, double high_pass_hz, double low_pass_hz, double fs,
                          bs_sos_filter *f, bs_error *err);

typedef enum bs_filter_padding {
    BS_PAD_ODD = 0,       /* scipy.signal.sosfiltfilt default: odd extension, 3*(2*nsec+1 - nfirst) samples */
    BS_PAD_CONSTANT = 1   /* XCP-D: edge values repeated, n-1 samples */
} bs_filter_padding;

/* Pad length the padding scheme uses for a signal of n samples. */
int64_t bs_sosfiltfilt_padlen(const bs_sos_filter *f, bs_filter_padding padding, int64_t n);

/* Zero-phase forward-backward filtering of x[0..n) (stride between samples)
 * in place, with steady-state initial conditions like scipy's sosfiltfilt.
 * work: at least n + 2*padlen doubles.  Fails when n <= padlen. */
int bs_sosfiltfilt(const bs_sos_filter *f, bs_filter_padding padding, double *x, int64_t n,
                   int64_t stride, double *work, bs_error *err);

/* ---- interpolation and regression helpers ----------------------------- */

/* Replaces rows with keep[t] == 0 of column x (n samples, stride) by a cubic
 * spline (not-a-knot, like scipy.interpolate.CubicSpline) through the kept
 * rows; flagged rows before the first / after the last kept row take the
 * nearest kept value (XCP-D).  work: 8*n doubles.  Needs >= 1 kept row.
 * Returns BS_OK, or an error when the spline system cannot be solved. */
int bs_interpolate_censored(double *x, int64_t n, int64_t stride, const unsigned char *keep,
                            double *work, bs_error *err);

/* Least-squares residuals: Y[n x r] -= A[n x q] * beta, beta fitted on the
 * rows with fit[t] != 0 (all rows when fit is NULL).  Both column-major with
 * leading dimension n.  Rank-deficient A gives numpy.linalg.lstsq's
 * residuals (SVD with its default cut-off).  Needs >= q fitted rows. */
int bs_regress_out(const double *A, int64_t n, int q, const unsigned char *fit, double *Y, int64_t r,
                   bs_error *err);

/* ---- the cleaning pipeline -------------------------------------------- */

typedef struct bs_clean_options {
    int dummy_scans;            /* leading volumes dropped; -1 = from non_steady_state_outlier columns */
    int detrend_order;          /* -1 none, 0 mean, 1 linear (default), 2 quadratic */
    double high_pass_hz;        /* lower band edge, 0 = off (default 0.01) */
    double low_pass_hz;         /* upper band edge, 0 = off (default 0.08) */
    int filter_order;           /* Butterworth order (default 2, XCP-D's) */
    bs_filter_padding padding;  /* default BS_PAD_ODD */
    double fd_threshold;        /* mm; <= 0 disables censoring (default 0.5) */
    int censor;                 /* 1: drop flagged volumes from the output (default) */
    int zscore;                 /* 1: z-score each column (ddof 1) at the end (default 0) */
} bs_clean_options;

void bs_clean_options_init(bs_clean_options *o);

typedef struct bs_clean_result {
    float *data;          /* n_rows * n_cols (bs_alloc_floats; free with bs_clean_result_free) */
    int64_t n_rows;
    int n_cols;
    int64_t *source_row;  /* input row of each output row */
    int64_t n_dummy;      /* volumes dropped at the start */
    int64_t n_flagged;    /* volumes above the FD threshold (after dummy removal) */
    int n_nan_columns;    /* columns left NaN (NaN in the input) */
    int n_constant_columns; /* zero-variance input columns, written constant (0 if the mean is removed) */
} bs_clean_result;

/* ts: n_rows x n_cols float32 (row-major).  tr: seconds (needed only when a
 * band edge is set).  conf may be NULL (no regression, no censoring). */
int bs_clean(const float *ts, int64_t n_rows, int n_cols, double tr, const bs_confounds *conf,
             const bs_clean_options *opt, bs_clean_result *res, bs_error *err);
void bs_clean_result_free(bs_clean_result *res);

#ifdef __cplusplus
}
#endif
#endif
