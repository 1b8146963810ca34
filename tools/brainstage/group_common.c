/* group_common.c - helpers shared by the group-level commands: input lists,
 * time-series TSVs, participant ids from BIDS names, feature tables. */
#include "cli_group.h"
#include "brainstage/bids.h"
#include "brainstage/fileio.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bs_strlist_push(bs_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items)
            return BS_ERR_NOMEM;
        l->items = items;
        l->cap = cap;
    }
    if (!(l->items[l->n] = strdup(s)))
        return BS_ERR_NOMEM;
    l->n++;
    return BS_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void bs_strlist_sort(bs_strlist *l)
{
    if (l->n > 1)
        qsort(l->items, (size_t)l->n, sizeof *l->items, cmp_str);
}

void bs_strlist_free(bs_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void bs_group_unique(bs_strlist *l)
{
    bs_strlist_sort(l);
    int k = 0;
    for (int i = 0; i < l->n; i++) {
        if (k > 0 && !strcmp(l->items[k - 1], l->items[i])) {
            free(l->items[i]);
            continue;
        }
        l->items[k++] = l->items[i];
    }
    l->n = k;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Files that end in _timeseries.tsv but are not ROI signals of a pipeline. */
static int excluded(const char *name)
{
    return strstr(name, "desc-confounds") || strstr(name, "desc-groundtruth") || strstr(name, "_regressors");
}

/* The suffix with the atlas entity spelled the other way: XCP-D 26.x writes
 * _atlas-<A>_, older releases _seg-<A>_, and either may be on disk.  NULL
 * when the suffix names no such entity. */
static char *other_naming(const char *suffix)
{
    static const char *const pairs[][2] = {{"atlas-", "seg-"}, {"seg-", "atlas-"}};
    for (size_t k = 0; k < 2; k++) {
        const char *from = pairs[k][0], *to = pairs[k][1];
        const char *at = strstr(suffix, from);
        while (at && at != suffix && at[-1] != '_')
            at = strstr(at + 1, from);
        if (!at)
            continue;
        size_t head = (size_t)(at - suffix), len = strlen(suffix) - strlen(from) + strlen(to) + 1;
        char *alt = malloc(len);
        if (alt)
            snprintf(alt, len, "%.*s%s%s", (int)head, suffix, to, at + strlen(from));
        return alt;
    }
    return NULL;
}

static int walk(const char *dir, const char *suffix, const char *alt, bs_strlist *out, int depth, bs_error *err)
{
    if (depth > 16)
        return BS_OK;
    DIR *d = opendir(dir);
    if (!d)
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = BS_OK;
    while (rc == BS_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = BS_ERR_NOMEM;
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk(p, suffix, alt, out, depth + 1, err);
            else if (S_ISREG(st.st_mode) && (ends_with(e->d_name, suffix) || (alt && ends_with(e->d_name, alt))) &&
                     !excluded(e->d_name))
                rc = bs_strlist_push(out, p);
        }
        free(p);
    }
    closedir(d);
    return rc;
}

int bs_group_expand_inputs(const char *arg, const char *suffix, bs_strlist *out, bs_error *err)
{
    struct stat st;
    int before = out->n;
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode))
        return bs_strlist_push(out, arg);
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *alt = other_naming(suffix);
        int rc = walk(arg, suffix, alt, out, 0, err);
        if (rc == BS_OK && out->n == before)
            rc = bs_error_set(err, BS_ERR_IO, "%s: no file named *%s%s%s in this folder", arg, suffix,
                              alt ? " or *" : "", alt ? alt : "");
        free(alt);
        return rc;
    }
    glob_t g;
    int grc = glob(arg, 0, NULL, &g);
    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return bs_error_set(err, BS_ERR_IO, "%s: no such file, folder or matching file", arg);
    }
    if (grc != 0) {
        globfree(&g);
        return bs_error_set(err, BS_ERR_IO, "%s: cannot expand the pattern", arg);
    }
    int rc = BS_OK;
    for (size_t i = 0; i < g.gl_pathc && rc == BS_OK; i++)
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode))
            rc = bs_strlist_push(out, g.gl_pathv[i]);
    globfree(&g);
    if (rc == BS_OK && out->n == before)
        return bs_error_set(err, BS_ERR_IO, "%s: the pattern matches no regular file", arg);
    return rc;
}

char *bs_group_participant(const char *path)
{
    char *v = bs_bids_entity(path, "sub");
    if (!v)
        return NULL;
    size_t len = strlen(v) + 5;
    char *id = malloc(len);
    if (id)
        snprintf(id, len, "sub-%s", v);
    free(v);
    return id;
}

/* The JSON sidecar of a TSV: same name with .json. */
static char *tsv_sidecar(const char *path)
{
    size_t len = strlen(path);
    if (len < 4 || strcmp(path + len - 4, ".tsv"))
        return NULL;
    char *j = malloc(len + 2);
    if (!j)
        return NULL;
    memcpy(j, path, len - 4);
    strcpy(j + len - 4, ".json");
    return j;
}

static int read_one(const char *path, double tr_default, bs_group_series *s, bs_error *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->path = strdup(path)))
        return BS_ERR_NOMEM;
    if (!(s->participant = bs_group_participant(path)))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: the file name has no sub- entity (expected sub-<label>_...)",
                            path);
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return err->code ? err->code : BS_ERR_IO;
    int rc = BS_OK;
    if (t->n_cols < 2 || t->n_rows < 3) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected an ROI time series (>= 2 columns, >= 3 rows), found %d x %lld",
                          path, t->n_cols, (long long)t->n_rows);
        goto done;
    }
    s->T = t->n_rows;
    s->R = t->n_cols;
    if (!(s->roi_names = calloc((size_t)s->R, sizeof *s->roi_names))) {
        rc = BS_ERR_NOMEM;
        goto done;
    }
    for (int c = 0; c < s->R; c++)
        if (!(s->roi_names[c] = strdup(t->header[c]))) {
            rc = BS_ERR_NOMEM;
            goto done;
        }
    s->ts = bs_alloc_floats((size_t)s->T * (size_t)s->R);
    double *col = malloc((size_t)s->T * sizeof *col);
    if (!s->ts || !col) {
        free(col);
        rc = BS_ERR_NOMEM;
        goto done;
    }
    for (int c = 0; c < s->R && rc == BS_OK; c++) {
        rc = bs_tsv_column_double(t, t->header[c], col, err);
        for (int64_t i = 0; rc == BS_OK && i < s->T; i++)
            s->ts[i * s->R + c] = (float)col[i];
    }
    free(col);
    if (rc)
        goto done;
    s->tr = tr_default > 0 ? tr_default : 0;
    char *json = tsv_sidecar(path);
    struct stat st;
    if (json && stat(json, &st) == 0) {
        double tr = 0;
        int found = 0;
        rc = bs_bids_read_tr(json, &tr, &found, err);
        if (rc == BS_OK && found)
            s->tr = tr;
    }
    free(json);
done:
    bs_tsv_free(t);
    return rc;
}

int bs_group_read_series(const bs_strlist *paths, double tr_default, bs_group_series **out, int *n_out,
                         bs_error *err)
{
    *out = NULL;
    *n_out = 0;
    bs_group_series *s = calloc((size_t)(paths->n ? paths->n : 1), sizeof *s);
    if (!s)
        return BS_ERR_NOMEM;
    for (int i = 0; i < paths->n; i++) {
        int rc = read_one(paths->items[i], tr_default, &s[i], err);
        if (rc == BS_OK && i > 0 && s[i].R != s[0].R)
            rc = bs_error_set(err, BS_ERR_DATA, "%s: %d ROI columns, but %s has %d (one atlas for all inputs: "
                              "narrow --suffix, e.g. _atlas-<label>_stat-mean_timeseries.tsv)",
                              s[i].path, s[i].R, s[0].path, s[0].R);
        /* Same count is not enough: two atlases (or one table in another
         * order) would mix regions in one model input without a word. */
        for (int c = 0; rc == BS_OK && i > 0 && c < s[i].R; c++)
            if (strcmp(s[i].roi_names[c], s[0].roi_names[c]))
                rc = bs_error_set(err, BS_ERR_DATA,
                                  "%s: ROI column %d is '%s', but in %s it is '%s' (all inputs need the same atlas, "
                                  "ROIs in the same order)",
                                  s[i].path, c + 1, s[i].roi_names[c], s[0].path, s[0].roi_names[c]);
        if (rc) {
            bs_group_series_free(s, i + 1);
            return rc;
        }
    }
    *out = s;
    *n_out = paths->n;
    return BS_OK;
}

void bs_group_series_free(bs_group_series *s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++) {
        free(s[i].path);
        free(s[i].participant);
        bs_free(s[i].ts);
        for (int c = 0; s[i].roi_names && c < s[i].R; c++)
            free(s[i].roi_names[c]);
        free(s[i].roi_names);
    }
    free(s);
}

int bs_group_write_features(const char *path, int64_t n, int64_t d, const float *X,
                            const char *const *ids, const char *prefix, bs_error *err)
{
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    if (rc)
        return rc;
    fputs("participant_id", f.fp);
    for (int64_t j = 0; j < d; j++)
        fprintf(f.fp, "\t%s%lld", prefix, (long long)j);
    fputc('\n', f.fp);
    for (int64_t i = 0; i < n; i++) {
        fputs(ids[i], f.fp);
        for (int64_t j = 0; j < d; j++) {
            float v = X[i * d + j];
            if (isfinite(v))
                fprintf(f.fp, "\t%.9g", v);
            else
                fputs("\tn/a", f.fp);
        }
        fputc('\n', f.fp);
    }
    return bs_atomic_commit(&f, err);
}

int bs_group_opt_int(const char *cmd, const char *opt, const char *text, long long min, long long max,
                     long long *out)
{
    char *end;
    long long v = strtoll(text ? text : "", &end, 10);
    if (!text || end == text || *end || v < min || v > max) {
        fprintf(stderr, "brainstage: %s: %s needs an integer in %lld..%lld, got '%s'\n", cmd, opt, min, max,
                text ? text : "");
        return BS_ERR_USAGE;
    }
    *out = v;
    return 0;
}

int bs_group_opt_double(const char *cmd, const char *opt, const char *text, double min, double max,
                        double *out)
{
    char *end;
    double v = strtod(text ? text : "", &end);
    if (!text || end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "brainstage: %s: %s needs a number in %g..%g, got '%s'\n", cmd, opt, min, max,
                text ? text : "");
        return BS_ERR_USAGE;
    }
    *out = v;
    return 0;
}

int bs_group_mkparent(const char *path, bs_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return BS_OK;
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return BS_ERR_NOMEM;
    int rc = bs_mkdirs(dir, err);
    free(dir);
    return rc;
}
