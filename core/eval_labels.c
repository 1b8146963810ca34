/* eval_labels.c - labels for feature rows from a BIDS participants.tsv. */
#include "brainstage/eval.h"
#include "brainstage/tsv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bs_labels_free(bs_labels *l)
{
    if (!l)
        return;
    if (l->class_names)
        for (int c = 0; c < l->n_classes; c++)
            free(l->class_names[c]);
    free(l->class_names);
    free(l->y);
    free(l->target);
    free(l->column);
    memset(l, 0, sizeof *l);
}

static int parse_number(const char *s, double *v)
{
    if (!s || !*s)
        return 0;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

static int is_missing(const char *s) { return !s || !*s || strcmp(s, "n/a") == 0; }

typedef struct class_key {
    const char *name;
    double num;
} class_key;

/* Numeric labels sort by value (so "2" < "10"), others by bytes; ties in
 * value (e.g. "1" and "1.0") fall back to bytes and stay distinct classes. */
static int cmp_class_text(const void *a, const void *b)
{
    return strcmp(((const class_key *)a)->name, ((const class_key *)b)->name);
}

static int cmp_class_num(const void *a, const void *b)
{
    const class_key *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

int bs_labels_from_strings(const char *const *values, int64_t n, bs_label_kind kind, const char *what,
                           bs_labels *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    if (!what)
        what = "labels";
    int all_numeric = 1;
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (is_missing(values[i]))
            return bs_error_set(err, BS_ERR_DATA, "%s: row %lld has no label (empty or n/a)", what, (long long)i);
        if (!parse_number(values[i], &v))
            all_numeric = 0;
    }
    /* Distinct values (sorted copy). */
    class_key *keys = malloc(sizeof(class_key) * (size_t)(n > 0 ? n : 1));
    if (!keys)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", what);
    for (int64_t i = 0; i < n; i++) {
        keys[i].name = values[i];
        keys[i].num = 0;
        if (all_numeric)
            parse_number(values[i], &keys[i].num);
    }
    int (*cmp_class)(const void *, const void *) = all_numeric ? cmp_class_num : cmp_class_text;
    qsort(keys, (size_t)n, sizeof *keys, cmp_class);
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(keys[i].name, keys[distinct - 1].name) != 0)
            keys[distinct++] = keys[i];

    if (kind == BS_LABELS_AUTO)
        kind = all_numeric && distinct > 10 ? BS_LABELS_CONTINUOUS : BS_LABELS_CLASSES;
    if (kind == BS_LABELS_CONTINUOUS) {
        free(keys);
        if (!all_numeric) {
            for (int64_t i = 0; i < n; i++) {
                double v;
                if (!parse_number(values[i], &v))
                    return bs_error_set(err, BS_ERR_DATA, "%s: row %lld: '%s' is not a number (continuous target)",
                                        what, (long long)i, values[i]);
            }
        }
        out->n = n;
        out->target = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        if (!out->target)
            return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", what);
        for (int64_t i = 0; i < n; i++)
            parse_number(values[i], &out->target[i]);
        return BS_OK;
    }
    if (distinct < 2) {
        free(keys);
        return bs_error_set(err, BS_ERR_DATA, "%s: only one class ('%s') among %lld subjects; need at least 2",
                            what, n > 0 ? values[0] : "", (long long)n);
    }
    if (distinct > 1000) {
        free(keys);
        return bs_error_set(err, BS_ERR_DATA, "%s: %lld distinct classes; is this a continuous target?", what,
                            (long long)distinct);
    }
    out->n = n;
    out->n_classes = (int)distinct;
    out->class_names = calloc((size_t)distinct, sizeof(char *));
    out->y = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!out->class_names || !out->y) {
        free(keys);
        bs_labels_free(out);
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", what);
    }
    for (int c = 0; c < out->n_classes; c++)
        if (!(out->class_names[c] = strdup(keys[c].name))) {
            free(keys);
            bs_labels_free(out);
            return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", what);
        }
    for (int64_t i = 0; i < n; i++) {
        int lo = 0, hi = out->n_classes - 1;
        class_key key = {values[i], 0};
        if (all_numeric)
            parse_number(values[i], &key.num);
        while (lo < hi) { /* binary search in the sorted distinct keys */
            int mid = (lo + hi) / 2;
            if (cmp_class(&keys[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        out->y[i] = lo;
    }
    free(keys);
    return BS_OK;
}

static const char *strip_sub(const char *id) { return strncmp(id, "sub-", 4) == 0 ? id + 4 : id; }

int bs_labels_from_participants(const char *path, const char *column, bs_label_kind kind,
                                const char *const *ids, int64_t n, bs_labels *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return err ? err->code : BS_ERR_IO;
    int rc = BS_OK;
    const char **vals = NULL;
    int id_col = bs_tsv_column(t, "participant_id");
    int lab_col = bs_tsv_column(t, column);
    if (id_col < 0) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: no 'participant_id' column (BIDS participants.tsv expected)", path);
        goto done;
    }
    if (lab_col < 0) {
        char cols[512] = "";
        for (int c = 0; c < t->n_cols; c++) {
            size_t len = strlen(cols);
            snprintf(cols + len, sizeof cols - len, "%s%s", c ? ", " : "", t->header[c]);
        }
        rc = bs_error_set(err, BS_ERR_DATA, "%s: no column '%s' for the labels (columns: %s)", path, column, cols);
        goto done;
    }
    for (int64_t r = 0; r < t->n_rows; r++)
        for (int64_t q = r + 1; q < t->n_rows; q++)
            if (strcmp(strip_sub(bs_tsv_cell(t, r, id_col)), strip_sub(bs_tsv_cell(t, q, id_col))) == 0) {
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: participant '%s' is listed twice (rows %lld and %lld)",
                                  path, bs_tsv_cell(t, r, id_col), (long long)r + 2, (long long)q + 2);
                goto done;
            }
    vals = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    if (!vals) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *want = strip_sub(ids[i]);
        int64_t row = -1;
        for (int64_t r = 0; r < t->n_rows && row < 0; r++)
            if (strcmp(strip_sub(bs_tsv_cell(t, r, id_col)), want) == 0)
                row = r;
        if (row < 0) {
            rc = bs_error_set(err, BS_ERR_DATA, "%s: subject 'sub-%s' of the features is not listed", path, want);
            goto done;
        }
        vals[i] = bs_tsv_cell(t, row, lab_col);
        if (is_missing(vals[i])) {
            rc = bs_error_set(err, BS_ERR_DATA, "%s: subject 'sub-%s' has no value in column '%s' (row %lld)", path,
                              want, column, (long long)row + 2);
            goto done;
        }
    }
    char what[1024];
    snprintf(what, sizeof what, "%s: column '%s'", path, column);
    rc = bs_labels_from_strings(vals, n, kind, what, out, err);
    if (rc == BS_OK && !(out->column = strdup(column))) {
        bs_labels_free(out);
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    }
done:
    free(vals);
    bs_tsv_free(t);
    return rc;
}
