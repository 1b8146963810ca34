/* core/brainmae/data.c - from a subject's ROI time series to BrainMAE
 * segments: TR checks, per-ROI z-scoring, invalid (NaN / constant) ROIs,
 * segment-wise ROI masks. */
#include "brainstage/brainmae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/rng.h"

/* First volume (row) that is non-finite in every ROI, or -1. */
static int64_t non_finite_row(const float *ts, int64_t T, int R)
{
    for (int64_t t = 0; t < T; t++) {
        int r = 0;
        while (r < R && !isfinite(ts[t * R + r])) r++;
        if (r == R) return t;
    }
    return -1;
}

int bs_brainmae_prepare(const bs_brainmae_config *cfg, const bs_brainmae_subject *sub,
                        bs_brainmae_prepared *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    const char *name = sub->name ? sub->name : "subject";
    const int R = cfg->n_rois, tau = cfg->seg_len, S = cfg->n_segments;
    if (!(sub->tr > 0) || !isfinite(sub->tr))
        return bs_error_set(err, BS_ERR_DATA,
                            "%s: repetition time missing (TR = %g s); BrainMAE cuts windows in "
                            "seconds and needs the run's TR",
                            name, sub->tr);
    if (cfg->window_s > 0) {
        long want = lround(cfg->window_s / sub->tr);
        if (want < 1) want = 1;
        if (want != tau)
            return bs_error_set(err, BS_ERR_DATA,
                                "%s: TR %g s gives %ld samples per %g s window, but the model "
                                "uses %d (trained at TR %g s); resample the run or retrain",
                                name, sub->tr, want, cfg->window_s, tau, cfg->window_s / tau);
    }
    if (sub->n_rois != R)
        return bs_error_set(err, BS_ERR_DATA, "%s: expected %d ROIs (model), found %d", name, R,
                            sub->n_rois);
    const int64_t n_seg = sub->n_time / tau;
    if (n_seg < 1)
        return bs_error_set(err, BS_ERR_DATA,
                            "%s: run of %lld volumes (%.1f s) is shorter than one BrainMAE window "
                            "of %d volumes (%.1f s); a sample needs %d windows (%.1f s)",
                            name, (long long)sub->n_time, sub->n_time * sub->tr, tau,
                            tau * sub->tr, S, (double)S * tau * sub->tr);
    if (n_seg < S)
        return bs_error_set(err, BS_ERR_DATA,
                            "%s: run of %lld volumes (%.1f s) is shorter than one BrainMAE sample "
                            "of %d windows x %d volumes (%.1f s needed)",
                            name, (long long)sub->n_time, sub->n_time * sub->tr, S, tau,
                            (double)S * tau * sub->tr);
    const int64_t T = n_seg * tau; /* trailing partial window dropped */
    out->n_seg = (int)n_seg;
    out->n_rois = R;
    out->seg_len = tau;
    out->tr = sub->tr;
    out->seg = calloc((size_t)T * R, sizeof(float));
    out->valid = calloc((size_t)R, 1);
    out->name = strdup(name);
    if (!out->seg || !out->valid || !out->name) {
        bs_brainmae_prepared_free(out);
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", name);
    }
    for (int r = 0; r < R; r++) {
        double mean = 0, var = 0;
        int finite = 1;
        for (int64_t t = 0; t < T; t++) {
            float v = sub->ts[t * R + r];
            if (!isfinite(v)) {
                finite = 0;
                break;
            }
            mean += v;
        }
        if (!finite) continue;
        mean /= (double)T;
        for (int64_t t = 0; t < T; t++) {
            double dv = sub->ts[t * R + r] - mean;
            var += dv * dv;
        }
        var /= (double)T;
        if (!(var > 1e-12 * (1 + mean * mean))) continue; /* constant column: no signal */
        const double inv = 1.0 / sqrt(var);
        for (int64_t t = 0; t < T; t++) {
            int64_t s = t / tau, j = t % tau;
            out->seg[((size_t)s * R + r) * tau + j] = (float)((sub->ts[t * R + r] - mean) * inv);
        }
        out->valid[r] = 1;
        out->n_valid++;
    }
    if (out->n_valid < 2) {
        const int nv = out->n_valid;
        bs_brainmae_prepared_free(out);
        const int64_t row = non_finite_row(sub->ts, T, R);
        if (row >= 0)
            return bs_error_set(err, BS_ERR_DATA,
                                "%s: volume %lld (counting from 0) is non-finite in every ROI, so "
                                "no ROI column is usable; interpolate censored volumes before "
                                "BrainMAE",
                                name, (long long)row);
        return bs_error_set(err, BS_ERR_DATA,
                            "%s: %d usable ROIs of %d, need at least 2 (columns must be finite "
                            "and not constant)",
                            name, nv, R);
    }
    return BS_OK;
}

void bs_brainmae_prepared_free(bs_brainmae_prepared *p)
{
    if (!p) return;
    free(p->seg);
    free(p->valid);
    free(p->name);
    memset(p, 0, sizeof *p);
}

void bs_brainmae_draw_mask(bs_rng *rng, int n_seg, int n_rois, const uint8_t *valid,
                           double ratio, uint8_t *mask)
{
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n_rois);
    int nv = 0;
    for (int r = 0; r < n_rois; r++)
        if (!valid || valid[r]) idx[nv++] = r;
    long k = lround(ratio * nv);
    if (k < 0) k = 0;
    if (k > nv) k = nv;
    for (int s = 0; s < n_seg; s++) {
        uint8_t *row = mask + (size_t)s * n_rois;
        memset(row, 0, (size_t)n_rois);
        bs_rng_partial_shuffle(rng, idx, nv, (int32_t)k);
        for (long i = 0; i < k; i++) row[idx[i]] = 1;
    }
    free(idx);
}
