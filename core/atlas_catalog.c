/* atlas_catalog.c - finding atlases by short name and reading label tables.
 *
 * A descriptor is a small key=value text file <name>.atlas (docs/atlases.md)
 * naming the image, its label table and its type.  Short names are looked up
 * in $BRAINSTAGE_ATLAS_PATH, $BRAINSTAGE_DATA_DIR/atlases and the installed
 * $(pkgdatadir)/atlases, in that order; a NIfTI path works without one. */
#include "brainstage/atlas.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/bids.h"
#include "brainstage/tsv.h"

#ifndef BS_DATA_DIR
#define BS_DATA_DIR "/usr/local/share/brainstage"
#endif

static char search_path_buf[4096];

const char *bs_atlas_search_path(void)
{
    const char *user = getenv("BRAINSTAGE_ATLAS_PATH");
    const char *data = getenv("BRAINSTAGE_DATA_DIR");
    snprintf(search_path_buf, sizeof search_path_buf, "%s%s%s%s%s" BS_DATA_DIR "/atlases",
             user && *user ? user : "", user && *user ? ":" : "",
             data && *data ? data : "", data && *data ? "/atlases" : "", data && *data ? ":" : "");
    return search_path_buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_nifti_name(const char *s)
{
    return ends_with(s, ".nii") || ends_with(s, ".nii.gz") || ends_with(s, ".hdr") ||
           ends_with(s, ".img") || ends_with(s, ".hdr.gz") || ends_with(s, ".img.gz");
}

/* File name without folder and NIfTI extension. */
static char *stem_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *s = strdup(base);
    if (!s)
        return NULL;
    static const char *exts[] = {".nii.gz", ".nii", ".hdr.gz", ".img.gz", ".hdr", ".img", ".atlas"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (ends_with(s, exts[i])) {
            s[strlen(s) - strlen(exts[i])] = '\0';
            break;
        }
    return s;
}

/* BIDS entity values are alphanumeric: s without its other characters. */
static char *bids_value(const char *s)
{
    char *o = malloc(strlen(s) + 1);
    if (!o)
        return NULL;
    size_t n = 0;
    for (; *s; s++)
        if (isalnum((unsigned char)*s))
            o[n++] = *s;
    o[n] = '\0';
    return o;
}

int bs_atlas_label_check(const char *label, const char *what, bs_error *err)
{
    const char *s = label ? label : "";
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c))
            return bs_error_set(err, BS_ERR_USAGE, "%s '%s': a BIDS atlas label may contain letters and digits only "
                                "(e.g. %s)", what, s, "Schaefer400");
    if (!*s)
        return bs_error_set(err, BS_ERR_USAGE, "%s: empty (a BIDS atlas label needs letters or digits)", what);
    return BS_OK;
}

/* A BIDS name is key-value pairs joined by '_', then a suffix: every
 * '_'-separated part before the last one has a '-'. */
static int bids_like(const char *stem)
{
    int parts = 0;
    for (const char *p = stem; *p;) {
        const char *end = strchr(p, '_');
        if (!end)
            return parts > 0;
        const char *dash = memchr(p, '-', (size_t)(end - p));
        if (!dash || dash == p || dash + 1 == end)
            return 0;
        parts++;
        p = end + 1;
    }
    return 0;
}

char *bs_atlas_label_from_path(const char *path)
{
    /* A BIDS-named atlas file (tpl-X_atlas-Schaefer400_..._dseg.nii.gz, or an
     * older seg- name) already carries its label. */
    static const char *const keys[] = {"atlas", "seg"};
    char *stem = stem_of(path);
    if (!stem)
        return NULL;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && bids_like(stem); k++) {
        char *v = bs_bids_entity(path, keys[k]);
        char *clean = v ? bids_value(v) : NULL;
        free(v);
        if (clean && *clean) {
            free(stem);
            return clean;
        }
        free(clean);
    }
    char *label = bids_value(stem);
    free(stem);
    if (label && !*label) { /* nothing alphanumeric in the name */
        free(label);
        label = strdup("custom");
    }
    return label;
}

static char *join_relative(const char *descriptor, const char *value)
{
    if (value[0] == '/')
        return strdup(value);
    const char *slash = strrchr(descriptor, '/');
    size_t dir = slash ? (size_t)(slash - descriptor) + 1 : 0;
    char *o = malloc(dir + strlen(value) + 1);
    if (!o)
        return NULL;
    memcpy(o, descriptor, dir);
    strcpy(o + dir, value);
    return o;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

void bs_atlas_spec_free(bs_atlas_spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->bids_name);
    free(s->image);
    free(s->labels);
    free(s->type);
    free(s->space);
    free(s->descriptor);
    memset(s, 0, sizeof *s);
}

static int read_descriptor(const char *path, bs_atlas_spec *out, bs_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open atlas descriptor: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0, rc = BS_OK;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s:%d: expected key = value, found '%.60s'", path, lineno, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        char **slot = NULL;
        int relative = 0;
        if (strcmp(key, "name") == 0)
            slot = &out->name;
        else if (strcmp(key, "bids_name") == 0)
            slot = &out->bids_name;
        else if (strcmp(key, "image") == 0)
            slot = &out->image, relative = 1;
        else if (strcmp(key, "labels") == 0)
            slot = &out->labels, relative = 1;
        else if (strcmp(key, "type") == 0) {
            if (strcmp(value, "label") != 0 && strcmp(value, "prob") != 0) {
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s:%d: type: expected label or prob, found '%s'",
                                  path, lineno, value);
                break;
            }
            slot = &out->type;
        } else if (strcmp(key, "space") == 0)
            slot = &out->space;
        else if (strcmp(key, "description") == 0 || strcmp(key, "source") == 0 ||
                 strcmp(key, "reference") == 0 || strcmp(key, "license") == 0)
            continue; /* documentation only */
        else {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s:%d: unknown key '%s' (expected name, bids_name, "
                              "image, labels, type, space, description, source, reference, license)",
                              path, lineno, key);
            break;
        }
        free(*slot);
        *slot = relative ? join_relative(path, value) : strdup(value);
        if (!*slot)
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    }
    fclose(f);
    if (!rc && !out->image)
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: missing key 'image'", path);
    if (rc)
        return rc;
    if (!out->name)
        out->name = stem_of(path);
    if (out->bids_name && bs_atlas_label_check(out->bids_name, "bids_name", err)) {
        if (!err)
            return BS_ERR_FORMAT;
        err->code = BS_ERR_FORMAT; /* a malformed descriptor, not a bad command line */
        return bs_error_prefix(err, "%s: ", path);
    }
    if (!out->bids_name && out->name)
        out->bids_name = bids_value(out->name);
    if (!out->type)
        out->type = strdup("label");
    out->descriptor = strdup(path);
    if (!out->name || !out->bids_name || !out->type || !out->descriptor)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    return BS_OK;
}

/* Calls fn(folder) for each folder of the search path until it returns nonzero. */
static int for_each_folder(int (*fn)(const char *dir, void *user), void *user)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", bs_atlas_search_path());
    char *save = NULL;
    for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        if (fn(dir, user))
            return 1;
    return 0;
}

typedef struct find_ctx {
    const char *name;
    char found[4096];
} find_ctx;

static int find_in(const char *dir, void *user)
{
    find_ctx *c = user;
    snprintf(c->found, sizeof c->found, "%s/%s.atlas", dir, c->name);
    return access(c->found, R_OK) == 0;
}

int bs_atlas_resolve(const char *name_or_path, const char *labels, bs_atlas_spec *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name_or_path || !*name_or_path)
        return bs_error_set(err, BS_ERR_USAGE, "atlas: empty name (give a short name such as aal, or a NIfTI path)");
    int rc = BS_OK;
    if (ends_with(name_or_path, ".atlas")) {
        rc = read_descriptor(name_or_path, out, err);
    } else if (is_nifti_name(name_or_path) || strchr(name_or_path, '/')) {
        out->image = strdup(name_or_path);
        out->name = stem_of(name_or_path);
        out->bids_name = bs_atlas_label_from_path(name_or_path);
        out->type = strdup("label");
        if (!out->image || !out->name || !out->bids_name || !out->type)
            rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    } else {
        char lower[256];
        size_t n = strlen(name_or_path);
        if (n >= sizeof lower)
            return bs_error_set(err, BS_ERR_USAGE, "atlas '%.40s...': name too long", name_or_path);
        for (size_t i = 0; i <= n; i++)
            lower[i] = (char)tolower((unsigned char)name_or_path[i]);
        find_ctx c = {.name = lower};
        if (!for_each_folder(find_in, &c)) {
            char **names = NULL;
            int count = 0;
            char known[1024] = "";
            if (bs_atlas_list(&names, &count, NULL) == BS_OK) {
                for (int i = 0; i < count; i++) {
                    size_t len = strlen(known);
                    snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", names[i]);
                    free(names[i]);
                }
                free(names);
            }
            return bs_error_set(err, BS_ERR_USAGE,
                                "atlas '%s': no descriptor %s.atlas in %s (known: %s; or give a NIfTI path "
                                "plus labels=TSV)", name_or_path, lower, bs_atlas_search_path(),
                                *known ? known : "none");
        }
        rc = read_descriptor(c.found, out, err);
    }
    if (!rc && labels && *labels) {
        free(out->labels);
        out->labels = strdup(labels);
        if (!out->labels)
            rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    if (rc)
        bs_atlas_spec_free(out);
    return rc;
}

typedef struct list_ctx {
    char **names;
    int n, cap;
    int failed;
} list_ctx;

static int list_in(const char *dir, void *user)
{
    list_ctx *c = user;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".atlas") || e->d_name[0] == '.')
            continue;
        char *stem = stem_of(e->d_name);
        if (!stem) {
            c->failed = 1;
            break;
        }
        int dup = 0;
        for (int i = 0; i < c->n && !dup; i++)
            dup = strcmp(c->names[i], stem) == 0;
        if (dup) {
            free(stem);
            continue;
        }
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 16;
            char **grown = realloc(c->names, (size_t)cap * sizeof *grown);
            if (!grown) {
                free(stem);
                c->failed = 1;
                break;
            }
            c->names = grown;
            c->cap = cap;
        }
        c->names[c->n++] = stem;
    }
    closedir(d);
    return c->failed;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bs_atlas_list(char ***names, int *n, bs_error *err)
{
    list_ctx c = {0};
    for_each_folder(list_in, &c);
    if (c.failed) {
        for (int i = 0; i < c.n; i++)
            free(c.names[i]);
        free(c.names);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory listing atlases");
    }
    if (c.n)
        qsort(c.names, (size_t)c.n, sizeof *c.names, cmp_str);
    *names = c.names;
    *n = c.n;
    return BS_OK;
}

void bs_atlas_labels_free(bs_atlas_labels *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        free(l->name[i]);
    free(l->name);
    free(l->index);
    free(l);
}

bs_atlas_labels *bs_atlas_labels_read(const char *path, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return NULL;
    int ci = bs_tsv_column(t, "index"), cn = bs_tsv_column(t, "name");
    if (ci < 0 || cn < 0) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: header: expected columns 'index' and 'name' (BIDS _dseg.tsv)", path);
        bs_tsv_free(t);
        return NULL;
    }
    bs_atlas_labels *l = calloc(1, sizeof *l);
    if (!l || t->n_rows > 1000000) {
        bs_error_set(err, l ? BS_ERR_FORMAT : BS_ERR_NOMEM, "%s: %s", path,
                     l ? "more than 1000000 labels" : "out of memory");
        free(l);
        bs_tsv_free(t);
        return NULL;
    }
    l->index = calloc((size_t)t->n_rows + 1, sizeof *l->index);
    l->name = calloc((size_t)t->n_rows + 1, sizeof *l->name);
    if (!l->index || !l->name) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        bs_atlas_labels_free(l);
        bs_tsv_free(t);
        return NULL;
    }
    for (int64_t r = 0; r < t->n_rows; r++) {
        const char *si = bs_tsv_cell(t, r, ci), *sn = bs_tsv_cell(t, r, cn);
        char *end = NULL;
        errno = 0;
        long long v = strtoll(si ? si : "", &end, 10);
        if (!si || !*si || *end || errno || v < 0) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld, column 'index': expected a non-negative integer, found '%.40s'",
                         path, (long long)r + 2, si ? si : "");
            bs_atlas_labels_free(l);
            bs_tsv_free(t);
            return NULL;
        }
        if (v == 0)
            continue; /* background row, if the table lists one */
        for (int i = 0; i < l->n; i++)
            if (l->index[i] == v) {
                bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld: index %lld appears twice", path,
                             (long long)r + 2, v);
                bs_atlas_labels_free(l);
                bs_tsv_free(t);
                return NULL;
            }
        l->index[l->n] = v;
        l->name[l->n] = strdup(sn && *sn ? sn : si);
        if (!l->name[l->n]) {
            bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            bs_atlas_labels_free(l);
            bs_tsv_free(t);
            return NULL;
        }
        l->n++;
    }
    bs_tsv_free(t);
    if (l->n == 0) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: no labels (only a header or background row)", path);
        bs_atlas_labels_free(l);
        return NULL;
    }
    return l;
}
