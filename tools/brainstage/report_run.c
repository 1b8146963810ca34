/* report_run.c - reads what a subject report shows about one run
 * (report_run.h).  Only the ROI time series itself is required; anything
 * else that is missing or inconsistent becomes a warning in the report. */
#define _GNU_SOURCE 1
#include "report_run.h"
#include "brainstage/bids.h"
#include "brainstage/clean.h"
#include "brainstage/fc.h"
#include "brainstage/tensor.h"

#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int exists(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void warn(report_run *r, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void warn(report_run *r, const char *f, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    bs_strlist_push(&r->warnings, buf);
}

/* ---- the time series -------------------------------------------------- */

static int read_series(report_run *r, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(r->ts_path, err);
    if (!t)
        return err->code;
    int rc = BS_OK;
    if (t->n_cols < 1 || t->n_rows < 1) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected a header of ROI names and at least one row",
                          r->ts_path);
        goto done;
    }
    r->R = t->n_cols;
    r->T = t->n_rows;
    r->names = calloc((size_t)r->R, sizeof *r->names);
    r->display = calloc((size_t)r->R, sizeof *r->display);
    r->ts = malloc((size_t)r->T * (size_t)r->R * sizeof *r->ts);
    double *col = malloc((size_t)r->T * sizeof *col);
    if (!r->names || !r->display || !r->ts || !col) {
        free(col);
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", r->ts_path);
        goto done;
    }
    for (int c = 0; c < r->R && rc == BS_OK; c++) {
        r->names[c] = strdup(t->header[c]);
        r->display[c] = strdup(t->header[c]);
        rc = bs_tsv_column_double(t, t->header[c], col, err);
        for (int64_t i = 0; i < r->T && rc == BS_OK; i++)
            r->ts[i * r->R + c] = (float)col[i];
    }
    free(col);
done:
    bs_tsv_free(t);
    return rc;
}

/* ---- the JSON sidecar ------------------------------------------------- */

static char *sidecar_of(const char *tsv)
{
    size_t n = strlen(tsv);
    return n > 4 ? bs_cli_strf("%.*s.json", (int)(n - 4), tsv) : NULL;
}

/* "strategy=36P band=0.01,0.08 order=2 fd_max=0.5 dummy=0 flagged=13 kept=137" */
static void parse_clean(report_run *r, const char *s)
{
    int n = sscanf(s, "strategy=%31s band=%63s order=%*d fd_max=%lf dummy=%lld flagged=%lld kept=%lld", r->strategy,
                   r->band, &r->fd_max, &r->dummy, &r->flagged, &r->kept);
    if (n == 6 && r->dummy >= 0 && r->flagged >= 0 && r->kept >= 0)
        r->have_clean = 1;
    else
        warn(r, "the cleaning summary in the sidecar could not be read ('%s')", s);
}

static const char *attr_of(json_t *attrs, const char *key)
{
    json_t *v = json_object_get(attrs, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *read_sidecar(report_run *r, const char *json_path, char **source)
{
    *source = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(json_path, 0, &jerr);
    if (!root) {
        warn(r, "%s: no readable JSON sidecar (%s): TR, coverage and cleaning summary unknown", json_path,
             jerr.text);
        return NULL;
    }
    json_t *tr = json_object_get(root, "RepetitionTime");
    if (json_is_number(tr) && json_number_value(tr) > 0 && isfinite(json_number_value(tr)))
        r->tr = json_number_value(tr);
    json_t *cov = json_object_get(root, "Coverage");
    for (int c = 0; c < r->R; c++) {
        json_t *v = json_is_object(cov) ? json_object_get(cov, r->names[c]) : NULL;
        r->coverage[c] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    json_t *attrs = json_object_get(root, "brainstage");
    char *entities = NULL;
    const char *s;
    if ((s = attr_of(attrs, "clean")))
        parse_clean(r, s);
    if ((s = attr_of(attrs, "min_coverage")))
        r->min_coverage = strtod(s, NULL);
    if ((s = attr_of(attrs, "atlas")))
        r->atlas = strdup(s);
    if ((s = attr_of(attrs, "entities")))
        entities = strdup(s);
    if ((s = attr_of(attrs, "source")))
        *source = strdup(s);
    json_decref(root);
    return entities;
}

/* The entities outputs were derived from: the file name without the
 * derivative ones (atlas, stat, desc, seg). */
static char *entities_from_name(const char *path)
{
    static const char *const drop[] = {"atlas", "stat", "desc", "seg", NULL};
    const char *base = strrchr(path, '/');
    return bs_cli_filter_entities(base ? base + 1 : path, drop, 0);
}

/* ---- confounds and the censoring timeline ------------------------------ */

/* fMRIPrep names confounds by the acquisition entities only. */
static char *acquisition_entities(const char *entities)
{
    static const char *const drop[] = {"space", "res", "den", "cohort", NULL};
    return bs_cli_filter_entities(entities, drop, 0);
}

/* The confounds TSV: beside the source BOLD when it still exists, else in
 * FMRIPREP_DIR/sub-X[/ses-Y]/func. */
static char *find_confounds(const char *fmriprep_dir, const char *entities, const char *source)
{
    char *acq = acquisition_entities(entities);
    char *sub = bs_bids_entity(entities, "sub"), *ses = bs_bids_entity(entities, "ses");
    char *dirs[2] = {NULL, NULL};
    if (source && exists(source)) {
        dirs[0] = strdup(source);
        char *slash = strrchr(dirs[0], '/');
        if (slash)
            *slash = '\0';
        else
            strcpy(dirs[0], ".");
    }
    if (fmriprep_dir && sub)
        dirs[1] = ses ? bs_cli_strf("%s/sub-%s/ses-%s/func", fmriprep_dir, sub, ses)
                      : bs_cli_strf("%s/sub-%s/func", fmriprep_dir, sub);
    char *found = NULL;
    const char *suffixes[] = {"desc-confounds_timeseries.tsv", "desc-confounds_regressors.tsv"};
    for (int d = 0; d < 2 && !found; d++)
        for (int k = 0; k < 2 && !found && dirs[d] && acq; k++) {
            char *p = bs_cli_strf("%s/%s_%s", dirs[d], acq, suffixes[k]);
            if (exists(p))
                found = p;
            else
                free(p);
        }
    free(dirs[0]);
    free(dirs[1]);
    free(acq);
    free(sub);
    free(ses);
    return found;
}

static void read_fd(report_run *r)
{
    bs_error err = {0};
    bs_confounds *c = bs_confounds_load(r->confounds_path, BS_CLEAN_NONE, NULL, 0, &err);
    if (!c) {
        warn(r, "framewise displacement unavailable: %s", err.message);
        return;
    }
    if (c->fd && c->n_rows > 0 && (r->fd = malloc((size_t)c->n_rows * sizeof *r->fd))) {
        memcpy(r->fd, c->fd, (size_t)c->n_rows * sizeof *r->fd);
        r->n_fd = c->n_rows;
    } else if (!c->fd) {
        warn(r, "%s: no framewise_displacement column", r->confounds_path);
    }
    bs_confounds_free(c);
}

/* Rebuilds which input volume each output row came from, with the clean
 * stage's rule (dummy scans, then FD > fd_max), and checks it against the
 * counts the stage recorded. */
static void build_timeline(report_run *r)
{
    long long D = r->have_clean ? r->dummy : 0;
    int64_t n_time = r->T;
    if (r->have_clean)
        n_time = r->fd ? r->n_fd : D + r->T; /* without FD, where censored volumes were is unknown */
    if (n_time < r->T)
        n_time = r->T;
    r->n_time = n_time;
    r->state = calloc((size_t)n_time, 1);
    r->source = malloc((size_t)r->T * sizeof *r->source);
    if (!r->state || !r->source)
        return;
    for (int64_t t = 0; t < n_time && t < D; t++)
        r->state[t] = REPORT_DUMMY;
    int64_t flagged = 0;
    int censoring = r->have_clean && r->fd_max > 0 && r->fd;
    for (int64_t t = D; censoring && t < n_time && t < r->n_fd; t++)
        if (r->fd[t] > r->fd_max) {
            r->state[t] = REPORT_CENSORED;
            flagged++;
        }
    int64_t kept = n_time - (D < n_time ? D : n_time) - flagged;
    if (r->have_clean && censoring && flagged != r->flagged)
        warn(r, "the confounds give %lld volumes above FD %g mm, the cleaning recorded %lld: censored volumes are "
                "not marked",
             (long long)flagged, r->fd_max, r->flagged);
    if (r->have_clean && censoring && flagged == r->flagged && kept == r->T) {
        int64_t o = 0; /* censored volumes were dropped */
        for (int64_t t = 0; t < n_time && o < r->T; t++)
            if (r->state[t] == REPORT_KEPT)
                r->source[o++] = t;
        return;
    }
    if (r->have_clean && D + r->T == n_time && (!censoring || flagged == r->flagged)) {
        for (int64_t o = 0; o < r->T; o++) /* censor=no: flagged volumes kept (interpolated) */
            r->source[o] = D + o;
        return;
    }
    if (r->have_clean && (!censoring || flagged == r->flagged))
        warn(r, "%lld rows in the time series do not match %lld input volumes: shown without the censoring layout",
             (long long)r->T, (long long)n_time);
    memset(r->state, REPORT_KEPT, (size_t)n_time);
    for (int64_t o = 0; o < r->T; o++)
        r->source[o] = o;
    r->n_time = r->T;
}

/* ---- atlas label table: display names and networks ---------------------- */

/* Row of the table whose name or index equals the ROI name, or -1. */
static int64_t table_row(const bs_tsv *t, int name_col, int index_col, const char *roi)
{
    for (int64_t i = 0; i < t->n_rows; i++) {
        const char *nm = name_col >= 0 ? bs_tsv_cell(t, i, name_col) : NULL;
        const char *ix = index_col >= 0 ? bs_tsv_cell(t, i, index_col) : NULL;
        if ((nm && !strcmp(nm, roi)) || (ix && !strcmp(ix, roi)))
            return i;
    }
    return -1;
}

static int network_index(report_run *r, const char *value)
{
    for (int k = 0; k < r->n_networks; k++)
        if (!strcmp(r->network_names[k], value))
            return k;
    char **grown = realloc(r->network_names, (size_t)(r->n_networks + 1) * sizeof *grown);
    if (!grown)
        return 0;
    r->network_names = grown;
    r->network_names[r->n_networks] = strdup(value);
    return r->n_networks++;
}

/* Uses the first table under FMRIPREP_DIR/atlas that names every ROI. */
static void apply_label_table(report_run *r, const char *fmriprep_dir)
{
    bs_strlist tables = {0};
    char *pat = fmriprep_dir ? bs_cli_strf("%s/atlas/*.tsv", fmriprep_dir) : NULL;
    if (pat)
        report_glob(pat, &tables);
    free(pat);
    for (int k = 0; k < tables.n && !r->labels_path; k++) {
        bs_error err = {0};
        bs_tsv *t = bs_tsv_read(tables.items[k], &err);
        if (!t)
            continue;
        int name_col = bs_tsv_column(t, "name"), index_col = bs_tsv_column(t, "index");
        int net_col = bs_tsv_column(t, "network");
        int64_t *row = malloc((size_t)r->R * sizeof *row);
        int all = row && (name_col >= 0 || index_col >= 0);
        for (int c = 0; all && c < r->R; c++)
            all = (row[c] = table_row(t, name_col, index_col, r->names[c])) >= 0;
        if (all) {
            r->labels_path = strdup(tables.items[k]);
            for (int c = 0; c < r->R && name_col >= 0; c++) {
                free(r->display[c]);
                r->display[c] = strdup(bs_tsv_cell(t, row[c], name_col));
            }
            if (net_col >= 0 && (r->network = calloc((size_t)r->R, sizeof *r->network)))
                for (int c = 0; c < r->R; c++)
                    r->network[c] = network_index(r, bs_tsv_cell(t, row[c], net_col));
        }
        free(row);
        bs_tsv_free(t);
    }
    bs_strlist_free(&tables);
}

/* Schaefer-style names ("7Networks_LH_Vis_1") carry their network. */
static void networks_from_names(report_run *r)
{
    if (r->network)
        return;
    char net[128];
    for (int c = 0; c < r->R; c++)
        if (sscanf(r->display[c], "%*dNetworks_%*[LR]H_%127[^_]", net) != 1)
            return;
    if (!(r->network = calloc((size_t)r->R, sizeof *r->network)))
        return;
    for (int c = 0; c < r->R; c++) {
        sscanf(r->display[c], "%*dNetworks_%*[LR]H_%127[^_]", net);
        r->network[c] = network_index(r, net);
    }
}

/* Display order: by network (first appearance), stable within. */
static void build_order(report_run *r)
{
    if (!(r->order = malloc((size_t)r->R * sizeof *r->order)))
        return;
    int64_t o = 0;
    if (r->network) {
        for (int k = 0; k < r->n_networks; k++)
            for (int c = 0; c < r->R; c++)
                if (r->network[c] == k)
                    r->order[o++] = c;
    } else {
        for (int c = 0; c < r->R; c++)
            r->order[o++] = c;
    }
}

/* ---- connectivity -------------------------------------------------------- */

/* <prefix>_stat-*_relmat.tsv next to the time series, rows/columns in the
 * same ROI order; 0 when absent or not matching. */
static int read_relmat(report_run *r)
{
    const char *stat = strstr(r->ts_path, "_stat-");
    if (!stat)
        return 0;
    char *pat = bs_cli_strf("%.*s_stat-*_relmat.tsv", (int)(stat - r->ts_path), r->ts_path);
    bs_strlist found = {0};
    if (pat)
        report_glob(pat, &found);
    free(pat);
    int ok = 0;
    for (int k = 0; k < found.n && !ok; k++) {
        bs_error err = {0};
        bs_tsv *t = bs_tsv_read(found.items[k], &err);
        if (!t)
            continue;
        ok = t->n_rows == r->R && t->n_cols == r->R + 1;
        for (int c = 0; ok && c < r->R; c++)
            ok = !strcmp(t->header[c + 1], r->names[c]);
        for (int64_t i = 0; ok && i < t->n_rows; i++)
            for (int c = 0; c < r->R; c++) {
                const char *cell = bs_tsv_cell(t, i, c + 1);
                char *end = NULL;
                double v = strtod(cell, &end); /* "n/a", empty or text: no data */
                r->fc[i * r->R + c] = end != cell && !*end ? (float)v : NAN;
            }
        if (ok) {
            const char *base = strrchr(found.items[k], '/');
            r->fc_source = bs_cli_strf("%s", base ? base + 1 : found.items[k]);
        }
        bs_tsv_free(t);
    }
    bs_strlist_free(&found);
    return ok;
}

static void build_fc(report_run *r)
{
    if (!(r->fc = malloc((size_t)r->R * (size_t)r->R * sizeof *r->fc)))
        return;
    if (read_relmat(r))
        return;
    bs_fc_options o;
    bs_fc_options_init(&o);
    bs_error err = {0};
    if (r->T >= 3 && bs_fc_compute(r->ts, r->T, r->R, &o, r->fc, NULL, NULL, &err) == BS_OK) {
        r->fc_source = strdup("Pearson correlation of the ROI time series above");
    } else {
        for (int64_t k = 0; k < (int64_t)r->R * r->R; k++)
            r->fc[k] = NAN;
        warn(r, "connectivity not computed: %s", err.message[0] ? err.message : "fewer than 3 volumes");
    }
}

/* ---- public ------------------------------------------------------------- */

int report_run_load(const char *fmriprep_dir, const char *ts_path, report_run *r, bs_error *err)
{
    memset(r, 0, sizeof *r);
    r->min_coverage = NAN;
    r->ts_path = strdup(ts_path);
    int rc = read_series(r, err);
    if (rc)
        return rc;
    if (!(r->coverage = malloc((size_t)r->R * sizeof *r->coverage)))
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    for (int c = 0; c < r->R; c++)
        r->coverage[c] = NAN;
    char *json = sidecar_of(ts_path), *source = NULL;
    r->entities = json ? read_sidecar(r, json, &source) : NULL;
    free(json);
    if (!r->entities)
        r->entities = entities_from_name(ts_path);
    r->confounds_path = r->entities ? find_confounds(fmriprep_dir, r->entities, source) : NULL;
    free(source);
    if (r->confounds_path)
        read_fd(r);
    else if (r->have_clean && r->fd_max > 0)
        warn(r, "no fMRIPrep confounds file found for %s: FD trace and censored volumes unavailable",
             r->entities ? r->entities : ts_path);
    build_timeline(r);
    apply_label_table(r, fmriprep_dir);
    networks_from_names(r);
    build_order(r);
    build_fc(r);
    if (!r->state || !r->source || !r->order || !r->fc)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    return BS_OK;
}

void report_run_free(report_run *r)
{
    for (int c = 0; r->names && c < r->R; c++)
        free(r->names[c]);
    for (int c = 0; r->display && c < r->R; c++)
        free(r->display[c]);
    for (int k = 0; k < r->n_networks; k++)
        free(r->network_names[k]);
    free(r->names);
    free(r->display);
    free(r->network_names);
    free(r->ts_path);
    free(r->entities);
    free(r->ts);
    free(r->coverage);
    free(r->atlas);
    free(r->confounds_path);
    free(r->fd);
    free(r->state);
    free(r->source);
    free(r->fc);
    free(r->fc_source);
    free(r->network);
    free(r->order);
    free(r->labels_path);
    bs_strlist_free(&r->warnings);
    memset(r, 0, sizeof *r);
}
