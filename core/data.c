/* data.c - values flowing along pipeline edges (bs_data). */
#include "brainstage/data.h"
#include "brainstage/nifti.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    bs_port_kind kind;
    const char *name;
} kind_names[] = {
    {BS_PORT_VOLUME4D, "volume4d"},     {BS_PORT_TIMESERIES, "timeseries"},
    {BS_PORT_MATRIX, "matrix"},         {BS_PORT_MATRIX_BATCH, "matrix_batch"},
    {BS_PORT_EMBEDDING, "embedding"},   {BS_PORT_PREDICTION, "prediction"},
    {BS_PORT_ANY, "any"},
};

const char *bs_port_kind_name(bs_port_kind kind)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (kind_names[i].kind == kind)
            return kind_names[i].name;
    return "none";
}

bs_port_kind bs_port_kind_parse(const char *name)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(kind_names[i].name, name) == 0)
            return kind_names[i].kind;
    return BS_PORT_NONE;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

bs_data *bs_data_new(bs_port_kind kind, bs_tensor *tensor, bs_error *err)
{
    bs_data *d = calloc(1, sizeof *d);
    if (!d) {
        bs_tensor_free(tensor);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory allocating pipeline data");
        return NULL;
    }
    d->kind = kind;
    d->tensor = tensor;
    return d;
}

bs_data *bs_data_new_volume(struct bs_nifti_reader *reader, double tr, bs_error *err)
{
    bs_data *d = calloc(1, sizeof *d);
    if (!d) {
        bs_nifti_close(reader);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory allocating pipeline data");
        return NULL;
    }
    d->kind = BS_PORT_VOLUME4D;
    d->volume = reader;
    d->tr = tr;
    return d;
}

static void free_strings(char **s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void bs_data_free(bs_data *d)
{
    if (!d)
        return;
    bs_tensor_free(d->tensor);
    if (d->volume)
        bs_nifti_close(d->volume);
    free_strings(d->labels, d->n_labels);
    free(d->coverage);
    free_strings(d->attr_keys, d->n_attrs);
    free_strings(d->attr_values, d->n_attrs);
    free(d);
}

int bs_data_set_labels(bs_data *d, int n, const char *const *labels, bs_error *err)
{
    char **copy = NULL;
    if (n > 0) {
        copy = calloc((size_t)n, sizeof *copy);
        if (!copy)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory copying %d labels", n);
        for (int i = 0; i < n; i++) {
            copy[i] = strdup(labels[i] ? labels[i] : "");
            if (!copy[i]) {
                free_strings(copy, i);
                return bs_error_set(err, BS_ERR_NOMEM, "out of memory copying labels");
            }
        }
    }
    free_strings(d->labels, d->n_labels);
    d->labels = copy;
    d->n_labels = n;
    return BS_OK;
}

int bs_data_set_coverage(bs_data *d, int n, const double *coverage, bs_error *err)
{
    double *copy = NULL;
    if (n > 0) {
        copy = malloc((size_t)n * sizeof *copy);
        if (!copy)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory copying coverage");
        memcpy(copy, coverage, (size_t)n * sizeof *copy);
    }
    free(d->coverage);
    d->coverage = copy;
    return BS_OK;
}

int bs_data_set_attr(bs_data *d, const char *key, const char *value, bs_error *err)
{
    for (int i = 0; i < d->n_attrs; i++) {
        if (strcmp(d->attr_keys[i], key) == 0) {
            char *v = dup_or_null(value ? value : "");
            if (!v)
                return bs_error_set(err, BS_ERR_NOMEM, "out of memory setting attribute %s", key);
            free(d->attr_values[i]);
            d->attr_values[i] = v;
            return BS_OK;
        }
    }
    char **keys = realloc(d->attr_keys, (size_t)(d->n_attrs + 1) * sizeof *keys);
    if (!keys)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory setting attribute %s", key);
    d->attr_keys = keys;
    char **values = realloc(d->attr_values, (size_t)(d->n_attrs + 1) * sizeof *values);
    if (!values)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory setting attribute %s", key);
    d->attr_values = values;
    char *k = strdup(key), *v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory setting attribute %s", key);
    }
    d->attr_keys[d->n_attrs] = k;
    d->attr_values[d->n_attrs] = v;
    d->n_attrs++;
    return BS_OK;
}

const char *bs_data_get_attr(const bs_data *d, const char *key)
{
    for (int i = 0; i < d->n_attrs; i++)
        if (strcmp(d->attr_keys[i], key) == 0)
            return d->attr_values[i];
    return NULL;
}

int bs_data_copy_meta(bs_data *dst, const bs_data *src, bs_error *err)
{
    dst->tr = src->tr;
    for (int i = 0; i < src->n_attrs; i++) {
        int rc = bs_data_set_attr(dst, src->attr_keys[i], src->attr_values[i], err);
        if (rc)
            return rc;
    }
    if (src->n_labels > 0) {
        int rc = bs_data_set_labels(dst, src->n_labels, (const char *const *)src->labels, err);
        if (rc)
            return rc;
        if (src->coverage) {
            rc = bs_data_set_coverage(dst, src->n_labels, src->coverage, err);
            if (rc)
                return rc;
        }
    }
    return BS_OK;
}

char *bs_data_format(const bs_data *d, const char *tpl, bs_error *err)
{
    size_t cap = strlen(tpl) + 64, len = 0;
    char *out = malloc(cap);
    if (!out) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (const char *s = tpl; *s;) {
        const char *piece = s;
        size_t n = 1;
        if (s[0] == '{' && s[1] == '{') {
            s += 2;
        } else if (s[0] == '{') {
            const char *close = strchr(s, '}');
            if (!close) {
                bs_error_set(err, BS_ERR_USAGE, "'%s': unmatched '{'", tpl);
                free(out);
                return NULL;
            }
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(close - s - 1 < 127 ? close - s - 1 : 127), s + 1);
            piece = bs_data_get_attr(d, key);
            if (!piece) {
                bs_error_set(err, BS_ERR_DATA, "'%s': the data has no attribute {%s}", tpl, key);
                free(out);
                return NULL;
            }
            n = strlen(piece);
            s = close + 1;
        } else {
            s++;
        }
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                free(out);
                bs_error_set(err, BS_ERR_NOMEM, "out of memory");
                return NULL;
            }
            out = grown;
        }
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return out;
}
