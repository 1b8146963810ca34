/* eval_features.c - feature matrices for heads: TSV/safetensors readers
 * and the vectorised-FC baseline (upper triangle without the diagonal). */
#include "brainstage/eval.h"
#include "brainstage/safetensors.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t bs_fc_vector_length(int64_t r) { return r > 1 ? r * (r - 1) / 2 : 0; }

void bs_fc_vectorize(const float *fc, int64_t n, int64_t r, float *out)
{
    int64_t len = bs_fc_vector_length(r);
    for (int64_t s = 0; s < n; s++) {
        const float *m = fc + s * r * r;
        float *o = out + s * len;
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = i + 1; j < r; j++)
                *o++ = m[i * r + j];
    }
}

void bs_features_free(bs_features *f)
{
    if (!f)
        return;
    if (f->ids)
        for (int64_t i = 0; i < f->n; i++)
            free(f->ids[i]);
    free(f->ids);
    bs_free(f->X);
    memset(f, 0, sizeof *f);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int alloc_features(bs_features *out, int64_t n, int64_t d, const char *path, bs_error *err)
{
    size_t cells;
    if (n < 1 || d < 1 || !bs_mul_size((size_t)n, (size_t)d, &cells))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: feature matrix must be at least 1 x 1 (got %lld x %lld)", path,
                            (long long)n, (long long)d);
    out->n = n;
    out->d = d;
    out->X = bs_alloc_floats(cells);
    out->ids = calloc((size_t)n, sizeof(char *));
    if (!out->X || !out->ids)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %lld x %lld features", path, (long long)n,
                            (long long)d);
    return BS_OK;
}

static int read_tsv(const char *path, bs_features *out, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return err ? err->code : BS_ERR_IO;
    int rc = alloc_features(out, t->n_rows, t->n_cols - 1, path, err);
    for (int64_t i = 0; rc == BS_OK && i < t->n_rows; i++) {
        if (!(out->ids[i] = strdup(bs_tsv_cell(t, i, 0)))) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        for (int c = 1; c < t->n_cols; c++) {
            const char *cell = bs_tsv_cell(t, i, c);
            char *end;
            double v = strtod(cell, &end);
            if (!*cell || *end || !isfinite(v)) {
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld column '%s': '%s' is not a finite number", path,
                                  (long long)i + 2, t->header[c], cell);
                break;
            }
            out->X[i * out->d + (c - 1)] = (float)v;
        }
    }
    bs_tsv_free(t);
    if (rc != BS_OK)
        bs_features_free(out);
    return rc;
}

static int read_safetensors(const char *path, bs_features *out, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return err ? err->code : BS_ERR_IO;
    int rc = BS_OK;
    json_t *ids = NULL;
    const bs_st_info *info = bs_st_find(st, "features");
    if (!info && bs_st_count(st) == 1)
        info = bs_st_get(st, 0);
    if (!info || info->ndim != 2) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected a 2-D tensor named 'features' [subjects, features]", path);
        goto done;
    }
    const char *meta = bs_st_metadata(st, "participant_id");
    json_error_t jerr;
    if (!meta || !(ids = json_loads(meta, 0, &jerr)) || !json_is_array(ids) ||
        (int64_t)json_array_size(ids) != info->shape[0]) {
        rc = bs_error_set(err, BS_ERR_FORMAT,
                          "%s: __metadata__ 'participant_id' must be a JSON array of %lld subject ids", path,
                          (long long)info->shape[0]);
        goto done;
    }
    if ((rc = alloc_features(out, info->shape[0], info->shape[1], path, err)) != BS_OK)
        goto done;
    if ((rc = bs_st_read_f32(st, info->name, out->X, 2, info->shape, err)) != BS_OK)
        goto done;
    for (int64_t i = 0; i < out->n; i++) {
        const char *s = json_string_value(json_array_get(ids, (size_t)i));
        if (!s) {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s: participant_id[%lld] is not a string", path, (long long)i);
            goto done;
        }
        if (!(out->ids[i] = strdup(s))) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    for (int64_t i = 0; i < out->n * out->d; i++)
        if (!isfinite(out->X[i])) {
            rc = bs_error_set(err, BS_ERR_NUMERIC, "%s: feature [%lld, %lld] is not finite", path,
                              (long long)(i / out->d), (long long)(i % out->d));
            goto done;
        }
done:
    json_decref(ids);
    bs_st_close(st);
    if (rc != BS_OK)
        bs_features_free(out);
    return rc;
}

int bs_features_read(const char *path, bs_features *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    if (ends_with(path, ".safetensors"))
        return read_safetensors(path, out, err);
    if (ends_with(path, ".tsv"))
        return read_tsv(path, out, err);
    return bs_error_set(err, BS_ERR_USAGE, "%s: feature files must end in .tsv or .safetensors", path);
}
