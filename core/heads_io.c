/* heads_io.c - saving and loading trained heads as safetensors.
 *
 * Tensors (F64, so a reloaded head scores bit-identically):
 *   scaler.mean [d], scaler.scale [d]          when standardised
 *   linear.weight [n_out, d], linear.bias [n_out]   logreg/svm/ridge/centroid
 *   hidden.weight [h, d], hidden.bias [h],
 *   output.weight [k, h], output.bias [k]          mlp
 * __metadata__: brainstage.head.kind, .format ("1"), .n_classes,
 * .temperature (centroid), .classes (JSON array of class names). */
#include "brainstage/heads.h"
#include "brainstage/heads_internal.h"
#include "brainstage/safetensors.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *bs_class_names_to_json(const char *const *names, int n)
{
    json_t *arr = json_array();
    for (int c = 0; arr && c < n; c++)
        json_array_append_new(arr, json_string(names[c] ? names[c] : ""));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

int bs_class_names_from_json(const char *text, int n, const char *path, char ***out, bs_error *err)
{
    json_error_t jerr;
    json_t *arr = json_loads(text, 0, &jerr);
    *out = NULL;
    if (!json_is_array(arr) || (int)json_array_size(arr) != n) {
        json_decref(arr);
        return bs_error_set(err, BS_ERR_FORMAT, "%s: brainstage.head.classes is not a JSON array of %d names", path,
                            n);
    }
    char **names = calloc((size_t)n, sizeof(char *));
    int ok = names != NULL;
    for (int c = 0; ok && c < n; c++) {
        const char *s = json_string_value(json_array_get(arr, (size_t)c));
        ok = (names[c] = strdup(s ? s : "")) != NULL;
    }
    json_decref(arr);
    if (!ok) {
        for (int c = 0; names && c < n; c++)
            free(names[c]);
        free(names);
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = names;
    return BS_OK;
}

static int add_f64(bs_st_writer *w, const char *name, int ndim, int64_t a, int64_t b, const double *data,
                   bs_error *err)
{
    int64_t shape[2] = {a, b};
    return bs_st_writer_add(w, name, BS_ST_F64, ndim, shape, data, err);
}

int bs_head_save(const bs_head *h, const char *path, bs_error *err)
{
    bs_st_writer *w = bs_st_writer_new();
    if (!w)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    int rc = BS_OK;
    char buf[64];
    char *classes = NULL;
    if (h->mean) {
        if ((rc = add_f64(w, "scaler.mean", 1, h->d, 0, h->mean, err)) ||
            (rc = add_f64(w, "scaler.scale", 1, h->d, 0, h->scale, err)))
            goto done;
    }
    if (h->kind == BS_HEAD_MLP) {
        if ((rc = add_f64(w, "hidden.weight", 2, h->hidden, h->d, h->weight, err)) ||
            (rc = add_f64(w, "hidden.bias", 1, h->hidden, 0, h->bias, err)) ||
            (rc = add_f64(w, "output.weight", 2, h->n_classes, h->hidden, h->weight2, err)) ||
            (rc = add_f64(w, "output.bias", 1, h->n_classes, 0, h->bias2, err)))
            goto done;
    } else {
        if ((rc = add_f64(w, "linear.weight", 2, h->n_out, h->d, h->weight, err)) ||
            (rc = add_f64(w, "linear.bias", 1, h->n_out, 0, h->bias, err)))
            goto done;
    }
    if ((rc = bs_st_writer_set_metadata(w, "brainstage.head.kind", bs_head_kind_name(h->kind), err)) ||
        (rc = bs_st_writer_set_metadata(w, "brainstage.head.format", "1", err)))
        goto done;
    snprintf(buf, sizeof buf, "%d", h->n_classes);
    if ((rc = bs_st_writer_set_metadata(w, "brainstage.head.n_classes", buf, err)))
        goto done;
    if (h->kind == BS_HEAD_CENTROID) {
        snprintf(buf, sizeof buf, "%.17g", h->temperature);
        if ((rc = bs_st_writer_set_metadata(w, "brainstage.head.temperature", buf, err)))
            goto done;
    }
    if (h->class_names) {
        classes = bs_class_names_to_json((const char *const *)h->class_names, h->n_classes);
        if (!classes) {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s: class names are not valid UTF-8", path);
            goto done;
        }
        if ((rc = bs_st_writer_set_metadata(w, "brainstage.head.classes", classes, err)))
            goto done;
    }
    rc = bs_st_writer_write(w, path, err);
done:
    free(classes);
    bs_st_writer_free(w);
    return rc;
}

/* Reads an F64 (or any float dtype) tensor of the expected shape into a
 * new double array. */
static double *read_f64(const bs_safetensors *st, const char *path, const char *name, int ndim, int64_t a,
                        int64_t b, bs_error *err)
{
    const bs_st_info *info = bs_st_find(st, name);
    if (!info) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: head tensor '%s' is missing", path, name);
        return NULL;
    }
    int64_t want[2] = {a, b};
    if (info->ndim != ndim || info->shape[0] != a || (ndim == 2 && info->shape[1] != b)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: head tensor '%s' has the wrong shape (expected [%lld%s%lld])",
                     path, name, (long long)a, ndim == 2 ? ", " : "", ndim == 2 ? (long long)b : 0LL);
        return NULL;
    }
    int64_t numel = ndim == 2 ? a * b : a;
    double *out = malloc(sizeof(double) * (size_t)(numel > 0 ? numel : 1));
    if (!out) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (info->dtype == BS_ST_F64) {
        memcpy(out, bs_st_raw(st, info), sizeof(double) * (size_t)numel);
    } else {
        float *f = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
        if (!f || bs_st_read_f32(st, name, f, ndim, want, err) != BS_OK) {
            if (!f)
                bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            free(f);
            free(out);
            return NULL;
        }
        for (int64_t i = 0; i < numel; i++)
            out[i] = f[i];
        free(f);
    }
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(out[i])) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: head tensor '%s' holds a non-finite value", path, name);
            free(out);
            return NULL;
        }
    return out;
}

bs_head *bs_head_load(const char *path, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return NULL;
    bs_head *h = calloc(1, sizeof *h);
    if (!h) {
        bs_st_close(st);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    const char *kind = bs_st_metadata(st, "brainstage.head.kind");
    const char *ncls = bs_st_metadata(st, "brainstage.head.n_classes");
    h->kind = bs_head_kind_parse(kind);
    if (h->kind == BS_HEAD_FINETUNE) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: a fine-tuned BrainMass model (encoder + head), not a feature head: "
                     "load it with bs_finetune_load", path);
        goto fail;
    }
    if (h->kind == BS_HEAD_NONE || !ncls) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: not a brainstage head (metadata brainstage.head.kind %s%s)", path,
                     kind ? "is unknown: " : "missing", kind ? kind : "");
        goto fail;
    }
    char *end;
    long nc = strtol(ncls, &end, 10);
    if (*end || nc < 0 || nc == 1 || nc > 100000 || (h->kind == BS_HEAD_RIDGE) != (nc == 0)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: brainstage.head.n_classes '%s' does not fit kind %s", path, ncls,
                     kind);
        goto fail;
    }
    h->n_classes = (int)nc;
    const char *wname = h->kind == BS_HEAD_MLP ? "hidden.weight" : "linear.weight";
    const bs_st_info *wi = bs_st_find(st, wname);
    if (!wi || wi->ndim != 2 || wi->shape[0] < 1 || wi->shape[1] < 1) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: head tensor '%s' missing or not a 2-D matrix", path, wname);
        goto fail;
    }
    h->d = wi->shape[1];
    if (h->kind == BS_HEAD_MLP) {
        h->hidden = (int)wi->shape[0];
        h->n_out = h->n_classes;
        if (!(h->weight = read_f64(st, path, "hidden.weight", 2, h->hidden, h->d, err)) ||
            !(h->bias = read_f64(st, path, "hidden.bias", 1, h->hidden, 0, err)) ||
            !(h->weight2 = read_f64(st, path, "output.weight", 2, h->n_classes, h->hidden, err)) ||
            !(h->bias2 = read_f64(st, path, "output.bias", 1, h->n_classes, 0, err)))
            goto fail;
    } else {
        int want_out = h->kind == BS_HEAD_RIDGE ? 1
                       : (h->n_classes == 2 && h->kind != BS_HEAD_CENTROID) ? 1 : h->n_classes;
        h->n_out = want_out;
        if (!(h->weight = read_f64(st, path, "linear.weight", 2, want_out, h->d, err)) ||
            !(h->bias = read_f64(st, path, "linear.bias", 1, want_out, 0, err)))
            goto fail;
    }
    if (bs_st_find(st, "scaler.mean")) {
        if (!(h->mean = read_f64(st, path, "scaler.mean", 1, h->d, 0, err)) ||
            !(h->scale = read_f64(st, path, "scaler.scale", 1, h->d, 0, err)))
            goto fail;
        for (int64_t j = 0; j < h->d; j++)
            if (!(h->scale[j] > 0)) {
                bs_error_set(err, BS_ERR_FORMAT, "%s: scaler.scale[%lld] is not positive", path, (long long)j);
                goto fail;
            }
    }
    if (h->kind == BS_HEAD_CENTROID) {
        const char *t = bs_st_metadata(st, "brainstage.head.temperature");
        h->temperature = t ? strtod(t, &end) : 0;
        if (!t || *end || !(h->temperature > 0)) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: centroid head needs a positive brainstage.head.temperature", path);
            goto fail;
        }
    }
    const char *classes = bs_st_metadata(st, "brainstage.head.classes");
    if (classes && h->n_classes > 0 && bs_class_names_from_json(classes, h->n_classes, path, &h->class_names, err))
        goto fail;
    h->converged = 1;
    bs_st_close(st);
    return h;
fail:
    bs_st_close(st);
    bs_head_free(h);
    return NULL;
}
