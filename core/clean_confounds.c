/* clean_confounds.c - select regressors from an fMRIPrep confounds table.
 *
 * Strategy column sets (names as fMRIPrep >= 1.4 writes them):
 *   24P      trans_{x,y,z}, rot_{x,y,z}, each with _derivative1, _power2 and
 *            _derivative1_power2 (Satterthwaite et al. 2013; XCP-D "24P").
 *   36P      24P + csf, white_matter, global_signal expanded the same way.
 *   aCompCor 6 motion parameters + their derivatives + a_comp_cor_00..n-1
 *            (default n = 5), whatever mask they come from: no metadata
 *            needed.
 *   aCompCorWMCSF  XCP-D's "acompcor": 6 motion parameters + derivatives,
 *            the first n (default 5) retained components whose Mask is WM
 *            and the first n whose Mask is CSF, as fMRIPrep's confounds
 *            JSON labels them (in table order, which fMRIPrep sorts by
 *            variance explained within a mask), and every cosine_XX column
 *            (fMRIPrep computes CompCor on high-pass filtered data; XCP-D
 *            adds the cosines, which high-passes the data as well).
 *   custom   only the listed columns.
 * fMRIPrep writes "n/a" in the first row of derivative columns (and of FD
 * and DVARS); that row becomes 0, as in XCP-D.  Any other n/a in a selected
 * column is an error rather than a silent 0. */
#include "brainstage/clean.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "brainstage/log.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

static const char *const motion6[] = {"trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"};
static const char *const physio3[] = {"csf", "white_matter", "global_signal"};

int bs_clean_strategy_parse(const char *name, bs_clean_strategy *out, bs_error *err)
{
    static const struct { const char *name; bs_clean_strategy s; } table[] = {
        {"none", BS_CLEAN_NONE}, {"24P", BS_CLEAN_24P},           {"36P", BS_CLEAN_36P},
        {"aCompCor", BS_CLEAN_ACOMPCOR}, {"aCompCorWMCSF", BS_CLEAN_ACOMPCOR_WMCSF}, {"custom", BS_CLEAN_CUSTOM},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (name && strcasecmp(name, table[i].name) == 0) {
            *out = table[i].s;
            return BS_OK;
        }
    return bs_error_set(err, BS_ERR_USAGE, "clean: unknown strategy '%s' (expected none, 24P, 36P, aCompCor, aCompCorWMCSF or custom)",
                        name ? name : "(null)");
}

const char *bs_clean_strategy_name(bs_clean_strategy s)
{
    switch (s) {
    case BS_CLEAN_NONE: return "none";
    case BS_CLEAN_24P: return "24P";
    case BS_CLEAN_36P: return "36P";
    case BS_CLEAN_ACOMPCOR: return "aCompCor";
    case BS_CLEAN_ACOMPCOR_WMCSF: return "aCompCorWMCSF";
    case BS_CLEAN_CUSTOM: return "custom";
    }
    return "?";
}

void bs_confounds_free(bs_confounds *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_cols; i++)
        free(c->names[i]);
    free(c->names);
    free(c->values);
    free(c->fd);
    free(c);
}

/* Growable list of selected column names (no duplicates). */
typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static int list_add(name_list *l, const char *name, bs_error *err)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return BS_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return bs_error_set(err, BS_ERR_NOMEM, "confounds: out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name)))
        return bs_error_set(err, BS_ERR_NOMEM, "confounds: out of memory");
    l->n++;
    return BS_OK;
}

/* base, base_derivative1, base_power2, base_derivative1_power2. */
static int add_expanded(name_list *l, const char *base, int with_squares, bs_error *err)
{
    static const char *const suffix[] = {"", "_derivative1", "_power2", "_derivative1_power2"};
    int n = with_squares ? 4 : 2;
    char name[256];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%s", base, suffix[i]);
        int rc = list_add(l, name, err);
        if (rc)
            return rc;
    }
    return BS_OK;
}

static int add_custom(name_list *l, const char *list, bs_error *err)
{
    if (!list)
        return BS_OK;
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *q = p;
        while (*q && *q != ',')
            q++;
        const char *end = q;
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        if (end > p) {
            char name[256];
            size_t len = (size_t)(end - p);
            if (len >= sizeof name)
                return bs_error_set(err, BS_ERR_USAGE, "confounds: column name '%.40s...' is too long", p);
            memcpy(name, p, len);
            name[len] = '\0';
            int rc = list_add(l, name, err);
            if (rc)
                return rc;
        }
        p = q;
    }
    return BS_OK;
}

static void list_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Column `col` of the table into out[], n/a in row 0 -> 0, n/a elsewhere -> error. */
static int read_column(const bs_tsv *t, const char *name, double *out, bs_error *err)
{
    int rc = bs_tsv_column_double(t, name, out, err);
    if (rc)
        return rc;
    if (t->n_rows > 0 && isnan(out[0]))
        out[0] = 0.0;
    for (int64_t r = 0; r < t->n_rows; r++)
        if (!isfinite(out[r]))
            return bs_error_set(err, BS_ERR_FORMAT,
                                "%s: row %lld: column '%s' is n/a or not finite (only the first row may be n/a)",
                                t->path, (long long)r + 2, name);
    return BS_OK;
}

/* The first n retained CompCor columns of the table whose confounds-JSON
 * entry has "Mask": mask (WM or CSF); *found = how many. */
static int add_mask_components(name_list *l, const bs_tsv *t, json_t *meta, const char *mask, int n, int *found,
                               bs_error *err)
{
    *found = 0;
    for (int j = 0; j < t->n_cols && *found < n; j++) {
        const char *col = t->header[j];
        if (!strstr(col, "comp_cor_") || strncmp(col, "t_comp_cor", 10) == 0) /* tCompCor has no tissue */
            continue;
        json_t *entry = json_object_get(meta, col);
        const char *m = json_string_value(json_object_get(entry, "Mask"));
        json_t *retained = json_object_get(entry, "Retained");
        if (!m || strcmp(m, mask) != 0 || (retained && !json_is_true(retained)))
            continue;
        int rc = list_add(l, col, err);
        if (rc)
            return rc;
        (*found)++;
    }
    return BS_OK;
}

/* WM and CSF components for BS_CLEAN_ACOMPCOR_WMCSF, from the JSON next to
 * the table (fMRIPrep's desc-confounds_timeseries.json). */
static int add_tissue_compcor(name_list *l, const bs_tsv *t, int n, bs_error *err)
{
    size_t len = strlen(t->path);
    char *json_path = malloc(len + 6);
    if (!json_path)
        return bs_error_set(err, BS_ERR_NOMEM, "confounds: out of memory");
    snprintf(json_path, len + 6, "%.*s.json", (int)(len > 4 && !strcmp(t->path + len - 4, ".tsv") ? len - 4 : len),
             t->path);
    json_error_t jerr;
    json_t *meta = NULL;
    int rc = BS_OK;
    if (access(json_path, R_OK) != 0)
        rc = bs_error_set(err, BS_ERR_IO, "%s: cannot read it (%s); strategy aCompCorWMCSF needs fMRIPrep's confounds "
                          "JSON, which gives the Mask of each a_comp_cor_XX", json_path, strerror(errno));
    else if (!(meta = json_load_file(json_path, 0, &jerr)))
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s:%d: invalid JSON: %s", json_path, jerr.line, jerr.text);
    else if (!json_is_object(meta))
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected a JSON object at the top level", json_path);
    else {
        static const char *const masks[] = {"WM", "CSF"};
        for (int k = 0; k < 2 && !rc; k++) {
            int found = 0;
            rc = add_mask_components(l, t, meta, masks[k], n, &found, err);
            if (!rc && found == 0)
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: no retained CompCor component with \"Mask\": \"%s\" "
                                  "(needed by strategy aCompCorWMCSF)", json_path, masks[k]);
            else if (!rc && found < n)
                bs_log(BS_LOG_WARN, "%s: only %d retained %s CompCor component(s), fewer than acompcor_n %d; "
                       "using them", json_path, found, masks[k], n);
        }
    }
    json_decref(meta);
    free(json_path);
    return rc;
}

bs_confounds *bs_confounds_load(const char *path, bs_clean_strategy strategy,
                                const char *extra_columns, int acompcor_n, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return NULL;
    name_list names = {0};
    bs_confounds *c = NULL;
    double *column = NULL;
    int rc = BS_OK;

    switch (strategy) {
    case BS_CLEAN_24P:
    case BS_CLEAN_36P:
        for (int i = 0; i < 6 && !rc; i++)
            rc = add_expanded(&names, motion6[i], 1, err);
        if (strategy == BS_CLEAN_36P)
            for (int i = 0; i < 3 && !rc; i++)
                rc = add_expanded(&names, physio3[i], 1, err);
        break;
    case BS_CLEAN_ACOMPCOR:
    case BS_CLEAN_ACOMPCOR_WMCSF:
        for (int i = 0; i < 6 && !rc; i++)
            rc = add_expanded(&names, motion6[i], 0, err);
        if (!rc && (acompcor_n < 1 || acompcor_n > 100)) {
            rc = bs_error_set(err, BS_ERR_USAGE, "clean: acompcor_n %d must be in 1..100", acompcor_n);
            break;
        }
        if (strategy == BS_CLEAN_ACOMPCOR_WMCSF) {
            if (!rc)
                rc = add_tissue_compcor(&names, t, acompcor_n, err);
            for (int j = 0; j < t->n_cols && !rc; j++)
                if (strncmp(t->header[j], "cosine", 6) == 0)
                    rc = list_add(&names, t->header[j], err);
            break;
        }
        for (int i = 0; i < acompcor_n && !rc; i++) {
            char name[32];
            snprintf(name, sizeof name, "a_comp_cor_%02d", i);
            rc = list_add(&names, name, err);
        }
        break;
    case BS_CLEAN_NONE:
    case BS_CLEAN_CUSTOM:
        break;
    }
    if (!rc)
        rc = add_custom(&names, extra_columns, err);
    if (!rc && strategy == BS_CLEAN_CUSTOM && names.n == 0)
        rc = bs_error_set(err, BS_ERR_USAGE, "clean: strategy custom needs a non-empty column list");
    if (rc)
        goto fail;
    for (int i = 0; i < names.n; i++)
        if (bs_tsv_column(t, names.v[i]) < 0) {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s: column '%s' (needed by strategy %s) is missing", path,
                              names.v[i], bs_clean_strategy_name(strategy));
            goto fail;
        }

    c = calloc(1, sizeof *c);
    size_t cells;
    if (!c || !bs_mul_size((size_t)t->n_rows, (size_t)(names.n ? names.n : 1), &cells) ||
        !(c->values = malloc(cells * sizeof(double))) ||
        !(column = malloc((size_t)(t->n_rows ? t->n_rows : 1) * sizeof(double)))) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    c->n_rows = t->n_rows;
    for (int j = 0; j < names.n; j++) {
        if ((rc = read_column(t, names.v[j], column, err)))
            goto fail;
        for (int64_t r = 0; r < t->n_rows; r++)
            c->values[r * names.n + j] = column[r];
    }
    if (bs_tsv_column(t, "framewise_displacement") >= 0) {
        if (!(c->fd = malloc((size_t)(t->n_rows ? t->n_rows : 1) * sizeof(double)))) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        if ((rc = read_column(t, "framewise_displacement", c->fd, err)))
            goto fail;
    }
    for (int j = 0; j < t->n_cols; j++)
        if (strncmp(t->header[j], "non_steady_state_outlier", 24) == 0)
            c->n_nonsteady++;
    c->n_cols = names.n;
    c->names = names.v;
    free(column);
    bs_tsv_free(t);
    return c;

fail:
    free(column);
    if (c) {
        c->n_cols = 0;
        bs_confounds_free(c);
    }
    list_free(&names);
    bs_tsv_free(t);
    return NULL;
}
