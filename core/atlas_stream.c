/* atlas_stream.c - streaming ROI reduction: one BOLD volume at a time.
 *
 * The BOLD run is never held whole: each volume is read (decompressed) into
 * one of two buffers and reduced into one row of the T x R output.  With
 * prefetch on, a second thread decompresses volume t+1 while this thread
 * reduces volume t; gzip inflation is the bottleneck, so the reduction is
 * then almost free.  Results do not depend on prefetch (same order of
 * additions). */
#include "brainstage/atlas.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/log.h"

typedef struct prefetcher {
    bs_nifti_reader *reader;
    int64_t nvol;
    float *buf[2];
    int full[2];
    int stop;
    int64_t failed_at; /* volume whose read failed, -1 if none */
    bs_error err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} prefetcher;

static void *prefetch_main(void *arg)
{
    prefetcher *pf = arg;
    for (int64_t t = 0; t < pf->nvol; t++) {
        int slot = (int)(t & 1);
        pthread_mutex_lock(&pf->mu);
        while (pf->full[slot] && !pf->stop)
            pthread_cond_wait(&pf->cv, &pf->mu);
        int stop = pf->stop;
        pthread_mutex_unlock(&pf->mu);
        if (stop)
            break;
        bs_error e = {0};
        int rc = bs_nifti_read_volume(pf->reader, t, pf->buf[slot], &e);
        pthread_mutex_lock(&pf->mu);
        if (rc) {
            pf->err = e;
            pf->failed_at = t;
        }
        pf->full[slot] = 1;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        if (rc)
            break;
    }
    return NULL;
}

/* Sums one volume into its ROIs; NaN voxels (missing data, e.g. outside
 * fMRIPrep's brain mask) are counted and skipped.  An infinite voxel is
 * never valid data: its entry index goes to *inf_entry (else -1). */
static int64_t reduce_volume(const float *vol, const bs_parcellation *p, double *sum, double *nan_weight,
                             int64_t *inf_entry)
{
    int64_t nans = 0;
    const int64_t *voxel = p->voxel;
    const int32_t *roi = p->roi;
    *inf_entry = -1;
    for (int64_t e = 0; e < p->n_entries; e++) {
        float x = vol[voxel[e]];
        double w = p->weight ? (double)p->weight[e] : 1.0;
        if (isnan(x)) {
            nan_weight[roi[e]] += w;
            nans++;
        } else {
            if (isinf(x) && *inf_entry < 0)
                *inf_entry = e;
            sum[roi[e]] += w * (double)x;
        }
    }
    return nans;
}

static void warn_coverage(const bs_parcellation *p, double min_coverage, int *n_low)
{
    int low = 0, first = -1, empty = 0;
    for (int r = 0; r < p->n_rois; r++) {
        if (p->n_voxels[r] == 0)
            empty++;
        if (p->coverage[r] < min_coverage || p->n_voxels[r] == 0) {
            if (first < 0)
                first = r;
            low++;
        }
    }
    *n_low = low;
    if (low)
        bs_log(BS_LOG_WARN,
               "atlas %s: %d of %d ROIs have coverage below min_coverage %.3g (%d with no voxel in the brain mask / "
               "field of view) and are NaN columns; first: '%s' (coverage %.3f)",
               p->atlas_name, low, p->n_rois, min_coverage, empty, p->names[first], p->coverage[first]);
}

bs_tensor *bs_parcellate(bs_nifti_reader *bold, const bs_parcellation *p, double min_coverage, int prefetch,
                         bs_parcellate_stats *stats, bs_error *err)
{
    const bs_nifti_header *h = bs_nifti_reader_header(bold);
    const char *path = bs_nifti_reader_path(bold);
    if (h->nvox != p->nvox)
        return bs_error_set(err, BS_ERR_DATA, "%s: %lld voxels per volume, the parcellation was built for %lld",
                            path, (long long)h->nvox, (long long)p->nvox), NULL;
    int64_t T = h->nvol, R = p->n_rois;
    bs_parcellate_stats st = {0};
    bs_tensor *out = bs_tensor_new_2d(T, R, err);
    double *sum = calloc((size_t)R + 1, sizeof *sum), *nanw = calloc((size_t)R + 1, sizeof *nanw);
    double *wtotal = calloc((size_t)R + 1, sizeof *wtotal);
    unsigned char *dropped = calloc((size_t)R + 1, 1);
    prefetcher pf = {.reader = bold, .nvol = T, .failed_at = -1};
    pf.buf[0] = bs_alloc_floats((size_t)h->nvox);
    pf.buf[1] = prefetch ? bs_alloc_floats((size_t)h->nvox) : NULL;
    int started = 0, rc = BS_OK;
    if (!out || !sum || !nanw || !wtotal || !dropped || !pf.buf[0] || (prefetch && !pf.buf[1])) {
        if (out)
            bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for the ROI reduction", path);
        rc = BS_ERR_NOMEM;
        goto done;
    }
    for (int64_t e = 0; e < p->n_entries; e++)
        wtotal[p->roi[e]] += p->weight ? (double)p->weight[e] : 1.0;
    for (int64_t r = 0; r < R; r++)
        dropped[r] = p->coverage[r] < min_coverage || wtotal[r] <= 0;
    warn_coverage(p, min_coverage, &st.n_low_coverage);

    pthread_t thread;
    if (prefetch) {
        pthread_mutex_init(&pf.mu, NULL);
        pthread_cond_init(&pf.cv, NULL);
        if (pthread_create(&thread, NULL, prefetch_main, &pf) != 0) {
            pthread_mutex_destroy(&pf.mu);
            pthread_cond_destroy(&pf.cv);
            prefetch = 0; /* fall back to reading in this thread */
        } else {
            started = 1;
        }
    }
    bs_progress_begin("parcellate", T);
    for (int64_t t = 0; t < T; t++) {
        const float *vol;
        int slot = (int)(t & 1);
        if (started) {
            pthread_mutex_lock(&pf.mu);
            while (!pf.full[slot])
                pthread_cond_wait(&pf.cv, &pf.mu);
            int failed = pf.failed_at == t;
            pthread_mutex_unlock(&pf.mu);
            if (failed) {
                if (err)
                    *err = pf.err;
                rc = pf.err.code ? pf.err.code : BS_ERR_IO;
                break;
            }
            vol = pf.buf[slot];
        } else {
            if ((rc = bs_nifti_read_volume(bold, t, pf.buf[0], err)))
                break;
            vol = pf.buf[0];
        }
        memset(sum, 0, (size_t)R * sizeof *sum);
        memset(nanw, 0, (size_t)R * sizeof *nanw);
        int64_t inf_entry;
        int64_t nans = reduce_volume(vol, p, sum, nanw, &inf_entry);
        float inf_value = inf_entry >= 0 ? vol[p->voxel[inf_entry]] : 0.0f;
        if (started) {
            pthread_mutex_lock(&pf.mu);
            pf.full[slot] = 0;
            pthread_cond_broadcast(&pf.cv);
            pthread_mutex_unlock(&pf.mu);
        }
        if (inf_entry >= 0) {
            rc = bs_error_set(err, BS_ERR_NUMERIC, "%s: volume %lld (0-based): voxel %lld holds %s (expected finite "
                              "values, or NaN for missing data)", path, (long long)t,
                              (long long)p->voxel[inf_entry], inf_value > 0 ? "+Inf" : "-Inf");
            break;
        }
        st.nan_values += nans;
        st.nan_volumes += nans > 0;
        float *row = out->data + t * R;
        int64_t defined = 0, kept = 0;
        for (int64_t r = 0; r < R; r++) {
            double denom = wtotal[r] - nanw[r];
            row[r] = dropped[r] || !(denom > 0) ? NAN : (float)(sum[r] / denom);
            kept += !dropped[r];
            defined += !isnan(row[r]);
        }
        /* A volume that is NaN in every ROI is corrupt, not missing
         * voxels: it would turn every series (and every FC edge) into NaN. */
        if (kept > 0 && defined == 0) {
            rc = bs_error_set(err, BS_ERR_NUMERIC, "%s: volume %lld (0-based) is NaN in every ROI (expected "
                              "finite data; NaN is accepted only for some voxels)", path, (long long)t);
            break;
        }
        bs_progress_update(t + 1);
    }
    bs_progress_end();
    st.volumes = T;
done:
    if (started) {
        pthread_mutex_lock(&pf.mu);
        pf.stop = 1;
        pthread_cond_broadcast(&pf.cv);
        pthread_mutex_unlock(&pf.mu);
        pthread_join(thread, NULL);
        pthread_mutex_destroy(&pf.mu);
        pthread_cond_destroy(&pf.cv);
    }
    bs_free(pf.buf[0]);
    bs_free(pf.buf[1]);
    free(sum);
    free(nanw);
    free(wtotal);
    free(dropped);
    if (rc) {
        bs_tensor_free(out);
        return NULL;
    }
    if (st.nan_values)
        bs_log(BS_LOG_WARN, "%s: %lld NaN voxel values in %lld of %lld volumes were skipped; those ROI means use the "
               "remaining voxels (NaN where none remain)", path, (long long)st.nan_values,
               (long long)st.nan_volumes, (long long)T);
    if (stats)
        *stats = st;
    return out;
}
