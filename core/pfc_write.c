/* pfc_write.c - streams a generator's samples into a safetensors file.
 *
 * Memory stays at one chunk of samples however many are written: the
 * header is declared with the final shape, chunks are computed and appended,
 * and the file is renamed into place only when every byte has arrived. */
#include "brainstage/pfc.h"

#include <stdio.h>
#include <stdlib.h>

#include "brainstage/safetensors.h"
#include "brainstage/tensor.h"

int bs_pfc_write_safetensors(bs_pfc_generator *g, int64_t n, int64_t chunk, const char *path, int n_meta,
                             const char *const *meta_keys, const char *const *meta_values, bs_error *err)
{
    if (!g || !path || n < 0 || (n_meta > 0 && (!meta_keys || !meta_values)))
        return bs_error_set(err, BS_ERR_USAGE, "pfc: bad arguments to bs_pfc_write_safetensors");
    const int64_t R = bs_pfc_generator_rois(g), T = bs_pfc_generator_timepoints(g);
    const int64_t RR = R * R;
    if (chunk <= 0) {
        chunk = (64LL << 20) / (RR * 4); /* ~64 MiB of output per step */
        if (chunk < 16)
            chunk = 16;
    }
    if (chunk > n)
        chunk = n > 0 ? n : 1;
    float *buf = bs_alloc_floats((size_t)(chunk * RR));
    int32_t *counts = malloc((size_t)(n > 0 ? n : 1) * sizeof *counts);
    int32_t *kept = malloc((size_t)T * sizeof *kept);
    bs_st_stream *s = bs_st_stream_new();
    int rc = BS_OK;
    if (!buf || !counts || !kept || !s) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for a %lld-sample pFC chunk", path, (long long)chunk);
        goto done;
    }
    int64_t shape[3] = {n, R, R}, cshape[1] = {n};
    char text[64];
    rc = bs_st_stream_declare(s, "pfc", BS_ST_F32, 3, shape, err);
    rc = rc ? rc : bs_st_stream_declare(s, "kept", BS_ST_I32, 1, cshape, err);
    rc = rc ? rc : bs_st_stream_set_metadata(s, "format", "brainstage-pfc", err);
    snprintf(text, sizeof text, "%lld", (long long)T);
    rc = rc ? rc : bs_st_stream_set_metadata(s, "timepoints", text, err);
    for (int i = 0; rc == BS_OK && i < n_meta; i++)
        rc = bs_st_stream_set_metadata(s, meta_keys[i], meta_values[i], err);
    rc = rc ? rc : bs_st_stream_begin(s, path, err);
    int64_t first0 = bs_pfc_tell(g);
    for (int64_t done = 0; rc == BS_OK && done < n; done += chunk) {
        int64_t k = n - done < chunk ? n - done : chunk;
        rc = bs_pfc_compute(g, first0 + done, k, buf, err);
        rc = rc ? rc : bs_st_stream_append(s, buf, (size_t)(k * RR) * sizeof(float), err);
        for (int64_t i = 0; rc == BS_OK && i < k; i++)
            rc = bs_pfc_kept_indices(g, first0 + done + i, kept, &counts[done + i], err);
    }
    rc = rc ? rc : bs_st_stream_append(s, counts, (size_t)n * sizeof *counts, err);
    rc = rc ? rc : bs_st_stream_commit(s, err);
    if (rc == BS_OK)
        bs_pfc_seek(g, first0 + n);
done:
    bs_st_stream_free(s);
    bs_free(buf);
    free(counts);
    free(kept);
    return rc;
}
