/* clean.c - the denoising pipeline for ROI time series (XCP-D's order).
 *
 *   1. drop dummy scans (rows 0..n_dummy-1 of BOLD and confounds)
 *   2. flag volumes with framewise displacement > fd_threshold
 *   3. replace flagged volumes of BOLD and confounds by a cubic spline
 *   4. detrend BOLD and confounds (polynomial of detrend_order, all volumes)
 *   5. Butterworth band-pass BOLD and confounds (zero-phase)
 *   6. regress confounds out: fit on unflagged volumes, subtract everywhere
 *   7. drop flagged volumes
 *   8. optional z-score (ddof 1)
 * All arithmetic is double precision on column-major work arrays, so each
 * ROI/confound column is contiguous for interpolation and filtering. */
#include "brainstage/clean.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "brainstage/log.h"
#include "brainstage/tensor.h"

void bs_clean_options_init(bs_clean_options *o)
{
    memset(o, 0, sizeof *o);
    o->dummy_scans = 0;
    o->detrend_order = 1;
    o->high_pass_hz = 0.01;
    o->low_pass_hz = 0.08;
    o->filter_order = 2;
    o->padding = BS_PAD_ODD;
    o->fd_threshold = 0.5;
    o->censor = 1;
    o->zscore = 0;
}

void bs_clean_result_free(bs_clean_result *res)
{
    if (!res)
        return;
    bs_free(res->data);
    free(res->source_row);
    memset(res, 0, sizeof *res);
}

/* Removes a polynomial of degree `order` in time from every column (fitted
 * on all rows, like XCP-D's detrend of the interpolated data). */
static int detrend_columns(double *Y, int64_t n, int64_t r, int order, bs_error *err)
{
    if (order < 0 || r == 0)
        return BS_OK;
    int q = order + 1;
    double *P = malloc((size_t)n * (size_t)q * sizeof(double));
    if (!P)
        return bs_error_set(err, BS_ERR_NOMEM, "detrend: out of memory");
    for (int64_t t = 0; t < n; t++) {
        double x = n > 1 ? 2.0 * (double)t / (double)(n - 1) - 1.0 : 0.0; /* [-1, 1]: well conditioned */
        double v = 1.0;
        for (int j = 0; j < q; j++) {
            P[j * n + t] = v;
            v *= x;
        }
    }
    int rc = bs_regress_out(P, n, q, NULL, Y, r, err);
    free(P);
    return rc;
}

/* Interpolates flagged rows, then band-passes, each column of M (n x cols). */
static int interpolate_and_filter(double *M, int64_t n, int64_t cols, const unsigned char *keep, int64_t n_keep,
                                  const bs_sos_filter *filt, bs_filter_padding padding, int stage, bs_error *err)
{
    int64_t pad = filt ? bs_sosfiltfilt_padlen(filt, padding, n) : 0;
    size_t wlen = (size_t)(8 * n + 2 * pad + 16);
    int failed = 0;
    bs_error first = {0};
#pragma omp parallel
    {
        double *work = malloc(wlen * sizeof(double));
        bs_error local = {0};
        if (!work) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t c = 0; c < cols; c++) {
            if (!work || failed)
                continue;
            int rc = BS_OK;
            if (stage == 0 && n_keep < n)
                rc = bs_interpolate_censored(M + c * n, n, 1, keep, work, &local);
            if (stage == 1 && filt)
                rc = bs_sosfiltfilt(filt, padding, M + c * n, n, 1, work, &local);
            if (rc) {
#pragma omp critical(bs_clean_error)
                if (!failed) {
                    failed = 1;
                    first = local;
                }
            }
        }
        free(work);
    }
    if (failed)
        return first.code ? bs_error_set(err, first.code, "%s", first.message)
                          : bs_error_set(err, BS_ERR_NOMEM, "clean: out of memory");
    return BS_OK;
}

/* flat[c] = 1 for a valid column whose spread is zero up to float32
 * rounding of its level (the criterion fc uses for undefined ROIs);
 * level[c] = its mean.  ts is T x n_cols, row-major; ss is n_cols of
 * scratch.  Returns the count. */
static int find_constant_columns(const float *ts, int64_t T, int n_cols, const int *valid, double *level,
                                 double *ss, unsigned char *flat)
{
    for (int c = 0; c < n_cols; c++)
        level[c] = ss[c] = 0.0;
    for (int64_t t = 0; t < T; t++)
        for (int c = 0; c < n_cols; c++)
            if (valid[c])
                level[c] += ts[t * n_cols + c];
    for (int c = 0; c < n_cols; c++)
        level[c] /= (double)T;
    for (int64_t t = 0; t < T; t++)
        for (int c = 0; c < n_cols; c++)
            if (valid[c]) {
                double d = ts[t * n_cols + c] - level[c];
                ss[c] += d * d;
            }
    int n = 0;
    for (int c = 0; c < n_cols; c++) {
        double sd = sqrt(ss[c] / (double)T);
        flat[c] = valid[c] && (ss[c] == 0.0 || !(sd > 1e-6 * fabs(level[c])));
        n += flat[c];
    }
    return n;
}

int bs_clean(const float *ts, int64_t n_rows, int n_cols, double tr, const bs_confounds *conf,
             const bs_clean_options *opt, bs_clean_result *res, bs_error *err)
{
    memset(res, 0, sizeof *res);
    gsl_set_error_handler_off(); /* the library reports, it never aborts */
    if (n_rows < 1 || n_cols < 1)
        return bs_error_set(err, BS_ERR_DATA, "clean: empty time series (%lld x %d)", (long long)n_rows, n_cols);
    if (conf && conf->n_rows != n_rows)
        return bs_error_set(err, BS_ERR_DATA, "clean: the confounds table has %lld rows but the time series has %lld volumes",
                            (long long)conf->n_rows, (long long)n_rows);
    int filtering = opt->high_pass_hz > 0.0 || opt->low_pass_hz > 0.0;
    bs_sos_filter filt;
    if (filtering) {
        if (!(tr > 0.0) || !isfinite(tr))
            return bs_error_set(err, BS_ERR_DATA,
                                "clean: the repetition time is unknown (no RepetitionTime in the BOLD JSON sidecar and no pixdim[4]); the band-pass needs it (set tr=)");
        double low = opt->low_pass_hz;
        if (low >= 0.5 / tr) {
            bs_log(BS_LOG_WARN, "clean: low-pass edge %g Hz is at or above Nyquist (%g Hz for TR %g s): no low-pass applied",
                   low, 0.5 / tr, tr);
            low = 0.0;
        }
        if (opt->high_pass_hz > 0.0 || low > 0.0) {
            int rc = bs_butterworth_design(opt->filter_order, opt->high_pass_hz, low, 1.0 / tr, &filt, err);
            if (rc)
                return bs_error_prefix(err, "clean: ");
        } else {
            filtering = 0;
        }
    }

    int64_t n_dummy = opt->dummy_scans >= 0 ? opt->dummy_scans : (conf ? conf->n_nonsteady : 0);
    if (n_dummy >= n_rows)
        return bs_error_set(err, BS_ERR_DATA, "clean: %lld dummy scans leave no volumes of %lld", (long long)n_dummy,
                            (long long)n_rows);
    const int64_t T = n_rows - n_dummy;

    int censoring = opt->fd_threshold > 0.0 && conf;
    if (opt->fd_threshold > 0.0 && !conf)
        bs_log(BS_LOG_WARN, "clean: no confounds table, so no framewise displacement: censoring skipped");
    if (censoring && !conf->fd)
        return bs_error_set(err, BS_ERR_DATA,
                            "clean: the confounds table has no framewise_displacement column (needed for fd_threshold %g; set it to 0 to disable censoring)",
                            opt->fd_threshold);
    const int p = conf ? conf->n_cols : 0;

    int rc = BS_OK;
    unsigned char *keep = malloc((size_t)T);
    int *valid = malloc((size_t)n_cols * sizeof(int));
    double *Y = NULL, *X = NULL, *level = NULL;
    unsigned char *flat = NULL;
    if (!keep || !valid) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "clean: out of memory");
        goto done;
    }
    int64_t n_keep = 0;
    for (int64_t t = 0; t < T; t++) {
        keep[t] = censoring ? !(conf->fd[n_dummy + t] > opt->fd_threshold) : 1;
        n_keep += keep[t];
    }
    res->n_dummy = n_dummy;
    res->n_flagged = T - n_keep;
    if (n_keep == 0) {
        rc = bs_error_set(err, BS_ERR_DATA, "clean: all %lld volumes exceed fd_threshold %g mm", (long long)T,
                          opt->fd_threshold);
        goto done;
    }
    if (p > 0 && n_keep <= p) {
        rc = bs_error_set(err, BS_ERR_DATA, "clean: %lld low-motion volumes are too few for %d confound regressors",
                          (long long)n_keep, p);
        goto done;
    }
    if (filtering && T <= bs_sosfiltfilt_padlen(&filt, opt->padding, T)) {
        rc = bs_error_set(err, BS_ERR_DATA, "clean: %lld volumes are too few for the band-pass (order %d needs more than %lld)",
                          (long long)T, opt->filter_order, (long long)bs_sosfiltfilt_padlen(&filt, opt->padding, T));
        goto done;
    }
    if (opt->zscore && (opt->censor ? n_keep : T) < 2) {
        rc = bs_error_set(err, BS_ERR_DATA, "clean: z-scoring needs at least 2 volumes");
        goto done;
    }

    /* Columns with any non-finite value (low-coverage ROIs) stay NaN
     * (scanned row by row: the input is row-major). */
    for (int c = 0; c < n_cols; c++)
        valid[c] = 1;
    for (int64_t t = 0; t < T; t++) {
        const float *row = ts + (n_dummy + t) * n_cols;
        for (int c = 0; c < n_cols; c++)
            if (!isfinite(row[c]))
                valid[c] = 0;
    }
    int64_t r = 0;
    for (int c = 0; c < n_cols; c++) {
        r += valid[c];
        res->n_nan_columns += !valid[c];
    }
    if (res->n_nan_columns)
        bs_log(BS_LOG_WARN, "clean: %d of %d columns contain NaN (e.g. low-coverage ROIs); they stay NaN",
               res->n_nan_columns, n_cols);
    if (!(level = malloc(2 * (size_t)n_cols * sizeof *level)) || !(flat = malloc((size_t)n_cols))) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "clean: out of memory");
        goto done;
    }
    res->n_constant_columns =
        find_constant_columns(ts + n_dummy * n_cols, T, n_cols, valid, level, level + n_cols, flat);
    if (res->n_constant_columns)
        bs_log(BS_LOG_WARN, "clean: %d of %d columns are constant (zero variance) in the input; they are written "
               "as a constant, so their connectivity is undefined", res->n_constant_columns, n_cols);

    size_t ny, nx;
    if (!bs_mul_size((size_t)T, (size_t)(r ? r : 1), &ny) || !bs_mul_size((size_t)T, (size_t)(p ? p : 1), &nx) ||
        !(Y = malloc(ny * sizeof(double))) || !(X = malloc(nx * sizeof(double)))) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "clean: out of memory for %lld x %d", (long long)T, n_cols);
        goto done;
    }
    {
        /* Transpose the valid columns into column-major Y, row by row. */
        int *slot = valid; /* reuse: slot[c] = column index in Y, or -1 */
        for (int c = 0, k = 0; c < n_cols; c++)
            slot[c] = valid[c] ? k++ : -1;
        for (int64_t t = 0; t < T; t++) {
            const float *row = ts + (n_dummy + t) * n_cols;
            for (int c = 0; c < n_cols; c++)
                if (slot[c] >= 0)
                    Y[slot[c] * T + t] = row[c];
        }
        for (int c = 0; c < n_cols; c++)
            valid[c] = slot[c] >= 0;
    }
    for (int j = 0; j < p; j++)
        for (int64_t t = 0; t < T; t++)
            X[j * T + t] = conf->values[(n_dummy + t) * p + j];

    /* 3. interpolation */
    if ((rc = interpolate_and_filter(Y, T, r, keep, n_keep, NULL, opt->padding, 0, err)) ||
        (rc = interpolate_and_filter(X, T, p, keep, n_keep, NULL, opt->padding, 0, err)))
        goto done;
    /* 4. detrend */
    if ((rc = detrend_columns(Y, T, r, opt->detrend_order, err)) ||
        (rc = detrend_columns(X, T, p, opt->detrend_order, err)))
        goto done;
    /* 5. band-pass */
    if (filtering && ((rc = interpolate_and_filter(Y, T, r, keep, n_keep, &filt, opt->padding, 1, err)) ||
                      (rc = interpolate_and_filter(X, T, p, keep, n_keep, &filt, opt->padding, 1, err))))
        goto done;
    /* 6. regression fitted on low-motion volumes */
    if (p > 0 && (rc = bs_regress_out(X, T, p, keep, Y, r, err)))
        goto done;

    /* 7. censoring, 8. z-score, float output */
    int64_t n_out = opt->censor ? n_keep : T;
    res->data = bs_alloc_floats((size_t)n_out * (size_t)n_cols);
    res->source_row = malloc((size_t)n_out * sizeof(int64_t));
    if (!res->data || !res->source_row) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "clean: out of memory");
        goto done;
    }
    res->n_rows = n_out;
    res->n_cols = n_cols;
    for (int64_t t = 0, o = 0; t < T; t++)
        if (keep[t] || !opt->censor)
            res->source_row[o++] = n_dummy + t;
    int warned_flat = 0;
    /* A constant input column carries no signal: in exact arithmetic the
     * mean-removing steps make it 0, but rounding leaves ~1e-14 noise that
     * fc would happily correlate.  Write the exact constant instead. */
    const int removes_mean = opt->detrend_order >= 0 || (filtering && opt->high_pass_hz > 0.0) || opt->zscore;
    for (int c = 0, k = 0; c < n_cols; c++) {
        if (!valid[c]) {
            for (int64_t o = 0; o < n_out; o++)
                res->data[o * n_cols + c] = NAN;
            continue;
        }
        if (flat[c]) {
            float v = removes_mean ? 0.0f : (float)level[c];
            for (int64_t o = 0; o < n_out; o++)
                res->data[o * n_cols + c] = v;
            k++;
            continue;
        }
        const double *y = Y + k * T;
        double mean = 0.0, sd = 1.0;
        if (opt->zscore) {
            double s = 0.0, ss = 0.0;
            for (int64_t o = 0; o < n_out; o++)
                s += y[res->source_row[o] - n_dummy];
            mean = s / (double)n_out;
            for (int64_t o = 0; o < n_out; o++) {
                double d = y[res->source_row[o] - n_dummy] - mean;
                ss += d * d;
            }
            sd = sqrt(ss / (double)(n_out - 1));
            if (!(sd > 0.0)) {
                sd = 1.0;
                if (!warned_flat++)
                    bs_log(BS_LOG_WARN, "clean: column %d has zero variance after cleaning; left at 0, not z-scored", c);
            }
        }
        for (int64_t o = 0; o < n_out; o++)
            res->data[o * n_cols + c] = (float)((y[res->source_row[o] - n_dummy] - mean) / sd);
        k++;
    }

done:
    free(keep);
    free(valid);
    free(level);
    free(flat);
    free(Y);
    free(X);
    if (rc)
        bs_clean_result_free(res);
    return rc;
}
