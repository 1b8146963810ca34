/* report_group.c - reads the group-level outputs for the reports
 * (OUTPUT_DIR/group/: features-*.tsv, eval-*_metrics.tsv,
 * eval-*_predictions.tsv, model-*_loss.tsv), the principal components of
 * each embedding, and the hooks `brainstage bids` calls. */
#define _GNU_SOURCE 1
#include "report.h"

#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void report_glob(const char *pattern, bs_strlist *out)
{
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            bs_strlist_push(out, g.gl_pathv[i]);
        globfree(&g);
    }
    bs_strlist_sort(out);
}

/* "DIR/group/eval-NAME_metrics.tsv" -> "NAME" given prefix "eval-" and
 * suffix "_metrics.tsv". */
static char *middle(const char *path, const char *prefix, const char *suffix)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t lp = strlen(prefix), ls = strlen(suffix), lb = strlen(base);
    if (lb <= lp + ls || strncmp(base, prefix, lp) || strcmp(base + lb - ls, suffix))
        return NULL;
    return strndup(base + lp, lb - lp - ls);
}

/* ---- principal components ----------------------------------------------- */

/* Top-2 principal components of the standardised rows of X (n x d) by power
 * iteration on Z^T Z with deflation; deterministic (fixed start, sign chosen
 * so the largest loading is positive). */
static int principal_components(report_model *m)
{
    const int64_t n = m->n, d = m->d;
    double *Z = calloc((size_t)(n * d), sizeof *Z), *v = malloc((size_t)d * sizeof *v);
    double *w = malloc((size_t)d * sizeof *w), *s = malloc((size_t)n * sizeof *s);
    double *comp[2] = {malloc((size_t)d * sizeof(double)), malloc((size_t)d * sizeof(double))};
    m->pc = calloc((size_t)(2 * n), sizeof *m->pc);
    int ok = Z && v && w && s && comp[0] && comp[1] && m->pc;
    double total = 0;
    for (int64_t j = 0; ok && j < d; j++) {
        double mean = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            mean += m->X[i * d + j];
        mean /= n;
        for (int64_t i = 0; i < n; i++)
            ss += (m->X[i * d + j] - mean) * (m->X[i * d + j] - mean);
        double sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
        for (int64_t i = 0; i < n; i++)
            Z[i * d + j] = sd > 0 && isfinite(sd) ? (m->X[i * d + j] - mean) / sd : 0.0;
        total += sd > 0 ? 1.0 : 0.0; /* each standardised column has variance 1 */
    }
    for (int k = 0; ok && k < 2; k++) {
        for (int64_t j = 0; j < d; j++)
            v[j] = 1.0 + 0.01 * (double)((j * 7919 + k * 104729) % 1000) / 1000.0;
        double lambda = 0;
        for (int it = 0; it < 500; it++) {
            if (k == 1) { /* stay orthogonal to the first component */
                double dot = 0;
                for (int64_t j = 0; j < d; j++)
                    dot += v[j] * comp[0][j];
                for (int64_t j = 0; j < d; j++)
                    v[j] -= dot * comp[0][j];
            }
            double norm = 0;
            for (int64_t j = 0; j < d; j++)
                norm += v[j] * v[j];
            norm = sqrt(norm);
            if (!(norm > 0))
                break;
            for (int64_t j = 0; j < d; j++)
                v[j] /= norm;
            for (int64_t i = 0; i < n; i++) { /* s = Z v */
                double acc = 0;
                for (int64_t j = 0; j < d; j++)
                    acc += Z[i * d + j] * v[j];
                s[i] = acc;
            }
            for (int64_t j = 0; j < d; j++) /* w = Z^T s */
                w[j] = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < d; j++)
                    w[j] += Z[i * d + j] * s[i];
            double next = 0, diff = 0;
            for (int64_t j = 0; j < d; j++)
                next += w[j] * v[j];
            memcpy(v, w, (size_t)d * sizeof *v);
            diff = fabs(next - lambda);
            lambda = next;
            if (diff <= 1e-10 * fabs(lambda))
                break;
        }
        double norm = 0;
        int64_t big = 0;
        for (int64_t j = 0; j < d; j++) {
            norm += v[j] * v[j];
            if (fabs(v[j]) > fabs(v[big]))
                big = j;
        }
        norm = sqrt(norm);
        double sign = d > 0 && v[big] < 0 ? -1.0 : 1.0;
        for (int64_t j = 0; j < d; j++)
            comp[k][j] = norm > 0 ? sign * v[j] / norm : 0.0;
        for (int64_t i = 0; i < n; i++) {
            double acc = 0;
            for (int64_t j = 0; j < d; j++)
                acc += Z[i * d + j] * comp[k][j];
            m->pc[i * 2 + k] = acc;
        }
        m->explained[k] = total > 0 && n > 1 ? lambda / (n - 1) / total : NAN;
    }
    free(Z);
    free(v);
    free(w);
    free(s);
    free(comp[0]);
    free(comp[1]);
    return ok ? BS_OK : BS_ERR_NOMEM;
}

/* ---- loading -------------------------------------------------------------- */

static int load_model(const char *path, report_model *m, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return err->code;
    int rc = BS_OK;
    if (t->n_cols < 2 || strcmp(t->header[0], "participant_id") || t->n_rows < 1) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected participant_id then feature columns", path);
        goto done;
    }
    m->n = t->n_rows;
    m->d = t->n_cols - 1;
    m->ids = calloc((size_t)m->n, sizeof *m->ids);
    m->X = malloc((size_t)(m->n * m->d) * sizeof *m->X);
    if (!m->ids || !m->X) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < m->n && rc == BS_OK; i++) {
        m->ids[i] = strdup(bs_tsv_cell(t, i, 0));
        for (int64_t j = 0; j < m->d; j++) {
            const char *cell = bs_tsv_cell(t, i, (int)j + 1);
            char *end = NULL;
            double x = strtod(cell, &end);
            if (end == cell || *end || !isfinite(x)) {
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld, column '%s': expected a finite number, got '%s'",
                                  path, (long long)i + 2, t->header[j + 1], cell);
                break;
            }
            m->X[i * m->d + j] = (float)x;
        }
    }
    if (rc == BS_OK && principal_components(m))
        rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
done:
    bs_tsv_free(t);
    return rc;
}

/* Every file of DIR/group matching PREFIX*SUFFIX, with its NAME. */
static void list_group(const char *out_dir, const char *prefix, const char *suffix, bs_strlist *paths)
{
    char *pat = bs_cli_strf("%s/group/%s*%s", out_dir, prefix, suffix);
    if (pat)
        report_glob(pat, paths);
    free(pat);
}

int report_group_load(const char *out_dir, const char *participants, const char *label, report_group *g,
                      bs_error *err)
{
    memset(g, 0, sizeof *g);
    g->label = strdup(label ? label : "group");
    g->participants_path = participants ? strdup(participants) : NULL;
    if (participants) {
        bs_error perr = {0};
        g->participants = bs_tsv_read(participants, &perr); /* labels are optional in the report */
    }
    bs_strlist files = {0};
    int rc = BS_OK;
    list_group(out_dir, "features-", ".tsv", &files);
    g->models = calloc((size_t)files.n + 1, sizeof *g->models);
    for (int i = 0; g->models && i < files.n && rc == BS_OK; i++) {
        report_model *m = &g->models[g->n_models++];
        m->name = middle(files.items[i], "features-", ".tsv");
        rc = load_model(files.items[i], m, err);
    }
    bs_strlist_free(&files);
    list_group(out_dir, "eval-", "_metrics.tsv", &files);
    g->evals = calloc((size_t)files.n + 1, sizeof *g->evals);
    for (int i = 0; g->evals && i < files.n && rc == BS_OK; i++) {
        report_eval *e = &g->evals[g->n_evals++];
        e->name = middle(files.items[i], "eval-", "_metrics.tsv");
        if (!(e->metrics = bs_tsv_read(files.items[i], err))) {
            rc = err->code;
            break;
        }
        char *pred = bs_cli_strf("%s/group/eval-%s_predictions.tsv", out_dir, e->name);
        struct stat st;
        if (pred && stat(pred, &st) == 0 && !(e->predictions = bs_tsv_read(pred, err)))
            rc = err->code;
        free(pred);
    }
    bs_strlist_free(&files);
    list_group(out_dir, "model-", "_loss.tsv", &files);
    g->losses = calloc((size_t)files.n + 1, sizeof *g->losses);
    for (int i = 0; g->losses && i < files.n && rc == BS_OK; i++) {
        report_loss *l = &g->losses[g->n_losses++];
        l->name = middle(files.items[i], "model-", "_loss.tsv");
        if (!(l->log = bs_tsv_read(files.items[i], err)))
            rc = err->code;
    }
    bs_strlist_free(&files);
    if (rc == BS_OK && (!g->models || !g->evals || !g->losses))
        rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    if (rc)
        report_group_free(g);
    return rc;
}

void report_group_free(report_group *g)
{
    for (int i = 0; i < g->n_models; i++) {
        report_model *m = &g->models[i];
        for (int64_t k = 0; m->ids && k < m->n; k++)
            free(m->ids[k]);
        free(m->ids);
        free(m->X);
        free(m->pc);
        free(m->name);
    }
    for (int i = 0; i < g->n_evals; i++) {
        free(g->evals[i].name);
        bs_tsv_free(g->evals[i].metrics);
        bs_tsv_free(g->evals[i].predictions);
    }
    for (int i = 0; i < g->n_losses; i++) {
        free(g->losses[i].name);
        bs_tsv_free(g->losses[i].log);
    }
    free(g->models);
    free(g->evals);
    free(g->losses);
    bs_tsv_free(g->participants);
    free(g->label);
    free(g->participants_path);
    memset(g, 0, sizeof *g);
}

const char *report_group_label_of(const report_group *g, const char *participant)
{
    if (!g || !g->participants)
        return NULL;
    int id = bs_tsv_column(g->participants, "participant_id"), col = bs_tsv_column(g->participants, g->label);
    if (id < 0 || col < 0)
        return NULL;
    for (int64_t i = 0; i < g->participants->n_rows; i++) {
        const char *p = bs_tsv_cell(g->participants, i, id);
        if (!strcmp(p, participant) || (!strncmp(participant, "sub-", 4) && !strcmp(p, participant + 4)))
            return bs_tsv_cell(g->participants, i, col);
    }
    return NULL;
}

/* ---- hooks ------------------------------------------------------------------ */

int bs_report_participant_level(const char *fmriprep_dir, const char *out_dir, const bs_strlist *subjects, int quiet)
{
    bs_strlist subs = {0};
    for (int i = 0; i < subjects->n; i++)
        bs_strlist_push(&subs, subjects->items[i]);
    bs_group_unique(&subs);
    int failed = 0;
    for (int i = 0; i < subs.n; i++) {
        bs_error err = {0};
        if (report_write_subject(fmriprep_dir, out_dir, subs.items[i], NULL, &err)) {
            fprintf(stderr, "brainstage: bids: %s: report: %s\n", subs.items[i], err.message);
            failed++;
        } else if (!quiet) {
            printf("%s: report %s/%s.html\n", subs.items[i], out_dir, subs.items[i]);
        }
    }
    bs_strlist_free(&subs);
    return failed;
}

/* Subjects with outputs: OUTPUT_DIR/sub-* folders holding ROI time series. */
static void output_subjects(const char *out_dir, bs_strlist *subs)
{
    bs_strlist dirs = {0};
    char *pat = bs_cli_strf("%s/sub-*/", out_dir);
    if (pat)
        report_glob(pat, &dirs);
    free(pat);
    for (int i = 0; i < dirs.n; i++) {
        char *d = dirs.items[i];
        size_t len = strlen(d);
        while (len && d[len - 1] == '/')
            d[--len] = '\0';
        const char *base = strrchr(d, '/');
        bs_strlist ts = {0};
        bs_error err = {0};
        if (bs_group_expand_inputs(d, BS_GROUP_TS_SUFFIX, &ts, &err) == BS_OK && ts.n > 0)
            bs_strlist_push(subs, base ? base + 1 : d);
        bs_strlist_free(&ts);
    }
    bs_strlist_free(&dirs);
}

int bs_report_group_level(const char *fmriprep_dir, const char *out_dir, const char *participants, const char *label,
                          int quiet)
{
    report_group g;
    bs_error err = {0};
    if (report_group_load(out_dir, participants, label, &g, &err)) {
        fprintf(stderr, "brainstage: bids: group report: %s\n", err.message);
        return 1;
    }
    bs_strlist subs = {0}, written = {0};
    output_subjects(out_dir, &subs);
    int failed = 0;
    for (int i = 0; i < subs.n; i++) {
        bs_error e = {0};
        if (report_write_subject(fmriprep_dir, out_dir, subs.items[i], &g, &e)) {
            fprintf(stderr, "brainstage: bids: %s: report: %s\n", subs.items[i], e.message);
            failed++;
        } else {
            bs_strlist_push(&written, subs.items[i]);
        }
    }
    if (report_write_group(out_dir, &g, &written, &err)) {
        fprintf(stderr, "brainstage: bids: group report: %s\n", err.message);
        failed++;
    } else if (!quiet) {
        printf("group report: %s/group.html (%d subject reports)\n", out_dir, written.n);
    }
    bs_strlist_free(&subs);
    bs_strlist_free(&written);
    report_group_free(&g);
    return failed;
}
