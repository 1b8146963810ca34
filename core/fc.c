/* fc.c - Pearson, partial and Ledoit-Wolf-shrunk correlation matrices.
 *
 * All three start from the same Gram matrix: each defined column is centred
 * and scaled to unit Euclidean norm (mean and norm accumulated in double),
 * stored as float32, and Z^T Z is formed with one cblas_ssyrk call, which
 * directly yields Pearson r (the scaling keeps the float32 sums O(1)).
 * The Ledoit-Wolf shrinkage works in double; partial correlation is in
 * fc_partial.c (GSL, kept apart because GSL's and OpenBLAS's cblas headers
 * cannot be included together). */
#include "brainstage/fc.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "brainstage/log.h"
#include "brainstage/tensor.h"

int bs_fc_kind_parse(const char *name, bs_fc_kind *out, bs_error *err)
{
    if (name && strcasecmp(name, "pearson") == 0)
        *out = BS_FC_PEARSON;
    else if (name && (strcasecmp(name, "partial") == 0 || strcasecmp(name, "partial_correlation") == 0))
        *out = BS_FC_PARTIAL;
    else if (name && (strcasecmp(name, "ledoit_wolf") == 0 || strcasecmp(name, "ledoit-wolf") == 0 ||
                      strcasecmp(name, "lw") == 0))
        *out = BS_FC_LEDOIT_WOLF;
    else
        return bs_error_set(err, BS_ERR_USAGE, "fc: unknown kind '%s' (expected pearson, partial or ledoit_wolf)",
                            name ? name : "(null)");
    return BS_OK;
}

const char *bs_fc_kind_name(bs_fc_kind kind)
{
    switch (kind) {
    case BS_FC_PEARSON: return "pearson";
    case BS_FC_PARTIAL: return "partial";
    case BS_FC_LEDOIT_WOLF: return "ledoit_wolf";
    }
    return "?";
}

const char *bs_fc_stat_name(const bs_fc_options *o)
{
    static const char *const plain[] = {"pearsoncorrelation", "partialcorrelation", "ledoitwolfcorrelation"};
    static const char *const fisher[] = {"fisherzpearsoncorrelation", "fisherzpartialcorrelation",
                                         "fisherzledoitwolfcorrelation"};
    int k = o->kind == BS_FC_PARTIAL ? 1 : o->kind == BS_FC_LEDOIT_WOLF ? 2 : 0;
    return o->fisher_z ? fisher[k] : plain[k];
}

void bs_fc_options_init(bs_fc_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = BS_FC_PEARSON;
    o->fisher_z = 0;
    o->partial_ridge = 0.01;
}

/* Ledoit-Wolf shrinkage (sklearn's ledoit_wolf_shrinkage formula) for data
 * whose columns are z-scored with ddof 0.  With unit-norm columns Z
 * (z-scored = sqrt(n) Z) the sample covariance S is the Pearson matrix C, so
 * mu = tr(S)/p = 1 and
 *   delta = ||S - mu I||_F^2 / p           = (||C||_F^2 - p) / p
 *   beta  = (sum_t (sum_i zs_ti^2)^2 / n - ||S||_F^2) / (p n)
 *         = (n * sum_t (sum_i Z_ti^2)^2 - ||C||_F^2) / (p n)
 *   shrinkage = min(beta, delta) / delta. */
static double ledoit_wolf_shrinkage(const float *Z, int64_t n, int64_t p, const float *C)
{
    if (p < 2)
        return 0.0;
    double fro = 0.0;
    for (int64_t i = 0; i < p; i++) {
        fro += 1.0; /* diagonal, exactly 1 */
        for (int64_t j = i + 1; j < p; j++)
            fro += 2.0 * (double)C[i * p + j] * (double)C[i * p + j];
    }
    double rows = 0.0;
    for (int64_t t = 0; t < n; t++) {
        double s = 0.0;
        for (int64_t i = 0; i < p; i++)
            s += (double)Z[t * p + i] * (double)Z[t * p + i];
        rows += s * s;
    }
    double delta = (fro - (double)p) / (double)p;
    double beta = ((double)n * rows - fro) / ((double)p * (double)n);
    if (beta > delta)
        beta = delta;
    if (beta == 0.0 || delta == 0.0)
        return 0.0;
    return beta / delta;
}

int bs_fc_compute(const float *ts, int64_t n_rows, int64_t n_rois, const bs_fc_options *opt, float *out,
                  unsigned char *defined, bs_fc_info *info, bs_error *err)
{
    bs_fc_info local_info;
    if (!info)
        info = &local_info;
    memset(info, 0, sizeof *info);
    info->first_undefined = -1;
    if (n_rois < 1 || n_rows < 1)
        return bs_error_set(err, BS_ERR_DATA, "fc: empty time series (%lld x %lld)", (long long)n_rows,
                            (long long)n_rois);
    if (n_rows < 2)
        return bs_error_set(err, BS_ERR_DATA, "fc: %lld volume(s): correlation needs at least 2", (long long)n_rows);
    if (n_rois > INT32_MAX || n_rows > INT32_MAX)
        return bs_error_set(err, BS_ERR_UNSUPPORTED, "fc: %lld x %lld is too large for BLAS", (long long)n_rows,
                            (long long)n_rois);

    int rc = BS_OK;
    int64_t *idx = malloc((size_t)n_rois * sizeof(int64_t));
    double *mean = malloc((size_t)n_rois * sizeof(double));
    double *inv_norm = malloc((size_t)n_rois * sizeof(double));
    float *Z = NULL, *C = NULL;
    if (!idx || !mean || !inv_norm) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "fc: out of memory");
        goto done;
    }

    /* Defined columns: finite, and a spread above float32 noise of the level.
     * Two row-major passes (the input is row-major): sums, then squared
     * deviations, accumulated in double per column. */
    double *ss = calloc((size_t)n_rois, sizeof(double));
    unsigned char *finite = malloc((size_t)n_rois);
    if (!ss || !finite) {
        free(ss);
        free(finite);
        rc = bs_error_set(err, BS_ERR_NOMEM, "fc: out of memory");
        goto done;
    }
    memset(finite, 1, (size_t)n_rois);
    for (int64_t c = 0; c < n_rois; c++)
        mean[c] = 0.0;
    for (int64_t t = 0; t < n_rows; t++) {
        const float *row = ts + t * n_rois;
        for (int64_t c = 0; c < n_rois; c++) {
            if (!isfinite(row[c]))
                finite[c] = 0;
            mean[c] += row[c];
        }
    }
    for (int64_t c = 0; c < n_rois; c++)
        mean[c] = finite[c] ? mean[c] / (double)n_rows : 0.0;
    for (int64_t t = 0; t < n_rows; t++) {
        const float *row = ts + t * n_rois;
        for (int64_t c = 0; c < n_rois; c++)
            if (finite[c]) {
                double d = row[c] - mean[c];
                ss[c] += d * d;
            }
    }
    int64_t p = 0;
    for (int64_t c = 0; c < n_rois; c++) {
        double sd = sqrt(ss[c] / (double)n_rows);
        int ok = finite[c] && ss[c] > 0.0 && sd > 1e-6 * fabs(mean[c]);
        inv_norm[c] = ok ? 1.0 / sqrt(ss[c]) : 0.0;
        if (defined)
            defined[c] = (unsigned char)ok;
        if (ok) {
            idx[p++] = c;
        } else {
            if (info->first_undefined < 0)
                info->first_undefined = c;
            info->n_undefined++;
        }
    }
    free(ss);
    free(finite);
    if (info->n_undefined)
        bs_log(BS_LOG_WARN, "fc: %lld of %lld ROIs are NaN or constant (first: column %lld); their rows and columns are NaN",
               (long long)info->n_undefined, (long long)n_rois, (long long)info->first_undefined);

    for (int64_t i = 0; i < n_rois * n_rois; i++)
        out[i] = NAN;
    if (p == 0)
        goto done;

    Z = bs_alloc_floats((size_t)n_rows * (size_t)p);
    C = bs_alloc_floats((size_t)p * (size_t)p);
    if (!Z || !C) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "fc: out of memory for %lld x %lld", (long long)n_rows, (long long)p);
        goto done;
    }
    for (int64_t t = 0; t < n_rows; t++)
        for (int64_t k = 0; k < p; k++) {
            int64_t c = idx[k];
            Z[t * p + k] = (float)((ts[t * n_rois + c] - mean[c]) * inv_norm[c]);
        }
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)n_rows, 1.0f, Z, (int)p, 0.0f, C, (int)p);
    for (int64_t i = 0; i < p; i++) {
        C[i * p + i] = 1.0f;
        for (int64_t j = i + 1; j < p; j++) {
            float r = C[i * p + j];
            C[i * p + j] = r > 1.0f ? 1.0f : (r < -1.0f ? -1.0f : r);
        }
    }

    if (opt->kind == BS_FC_LEDOIT_WOLF) {
        double shrink = ledoit_wolf_shrinkage(Z, n_rows, p, C);
        info->shrinkage = shrink;
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = i + 1; j < p; j++)
                C[i * p + j] = (float)((1.0 - shrink) * C[i * p + j]);
    } else if (opt->kind == BS_FC_PARTIAL) {
        if (!(opt->partial_ridge >= 0.0)) {
            rc = bs_error_set(err, BS_ERR_USAGE, "fc: ridge %g must be >= 0", opt->partial_ridge);
            goto done;
        }
        if ((rc = bs_fc_partial_from_corr(C, p, opt->partial_ridge, err)))
            goto done;
    }

    /* Scatter the upper triangle into the full R x R output. */
    for (int64_t a = 0; a < p; a++) {
        int64_t i = idx[a];
        out[i * n_rois + i] = opt->fisher_z ? 0.0f : 1.0f;
        for (int64_t b = a + 1; b < p; b++) {
            int64_t j = idx[b];
            double r = C[a * p + b];
            if (opt->fisher_z) {
                /* |r| capped so identical series give a large finite z. */
                const double cap = 1.0 - 1e-7;
                r = atanh(r > cap ? cap : (r < -cap ? -cap : r));
            }
            out[i * n_rois + j] = out[j * n_rois + i] = (float)r;
        }
    }

done:
    free(idx);
    free(mean);
    free(inv_norm);
    bs_free(Z);
    bs_free(C);
    return rc;
}
