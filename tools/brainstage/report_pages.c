/* report_pages.c - assembles OUTPUT_DIR/sub-X.html and OUTPUT_DIR/group.html
 * (docs/reports.md); both are written through bs_atomic_file, so a failed
 * report never leaves a partial page. */
#define _GNU_SOURCE 1
#include "config.h"
#include "report_run.h"
#include "brainstage/fileio.h"
#include "brainstage/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared pieces ---------------------------------------------------- */

static void link(FILE *fp, const char *href, const char *text)
{
    fputs("<a href=\"", fp);
    bs_report_text(fp, href);
    fputs("\">", fp);
    bs_report_text(fp, text);
    fputs("</a>", fp);
}

static void cell(FILE *fp, const char *tag, const char *text, int numeric)
{
    fprintf(fp, "<%s%s>", tag, numeric ? " class=\"num\"" : "");
    bs_report_text(fp, text);
    fprintf(fp, "</%s>", tag);
}

/* The number a whole cell holds, NaN for "n/a" or text. */
static double parse_number(const char *text)
{
    char *end = NULL;
    double v = strtod(text, &end);
    return end != text && !*end ? v : NAN;
}

/* A numeric cell shown with 3 significant digits; text kept as is. */
static void value_cell(FILE *fp, const char *text)
{
    char b[32];
    double v = parse_number(text);
    if (isfinite(v))
        cell(fp, "td", bs_report_value(b, v, 3), 1);
    else
        cell(fp, "td", text, 0);
}

/* Class of each id from the label column (sorted distinct values), -1 when
 * unknown.  Returns the number of classes; *names owned by the caller. */
static int classes_of(const report_group *g, char *const *ids, int64_t n, int *cls, bs_strlist *names)
{
    for (int64_t i = 0; i < n; i++) {
        const char *v = report_group_label_of(g, ids[i]);
        if (v && strcmp(v, "n/a") && *v)
            bs_strlist_push(names, v);
    }
    bs_group_unique(names);
    for (int64_t i = 0; i < n; i++) {
        const char *v = report_group_label_of(g, ids[i]);
        cls[i] = -1;
        for (int c = 0; v && c < names->n; c++)
            if (!strcmp(names->items[c], v))
                cls[i] = c;
    }
    return names->n;
}

static void model_scatter(FILE *fp, const report_group *g, const report_model *m, int64_t highlight,
                          const char *id)
{
    double *x = malloc((size_t)m->n * sizeof *x), *y = malloc((size_t)m->n * sizeof *y);
    int *cls = malloc((size_t)m->n * sizeof *cls);
    bs_strlist names = {0};
    if (x && y && cls) {
        for (int64_t i = 0; i < m->n; i++) {
            x[i] = m->pc[2 * i];
            y[i] = m->pc[2 * i + 1];
        }
        int nc = classes_of(g, m->ids, m->n, cls, &names);
        char title[160], xl[64], yl[64], caption[320], a[32], b[32];
        snprintf(title, sizeof title, "%s embeddings: first two principal components", m->name);
        snprintf(xl, sizeof xl, "PC1 (%s%% of variance)", bs_report_value(a, 100 * m->explained[0], 3));
        snprintf(yl, sizeof yl, "PC2 (%s%% of variance)", bs_report_value(b, 100 * m->explained[1], 3));
        snprintf(caption, sizeof caption,
                 "%lld subjects, %lld standardised features, coloured by '%s'%s. Descriptive only: the principal "
                 "components are computed on all subjects.",
                 (long long)m->n, (long long)m->d, g->label, highlight >= 0 ? "; ringed: this subject" : "");
        bs_report_scatter s = {.id = id, .title = title, .caption = caption, .n = m->n, .x = x, .y = y,
                               .cls = cls, .class_names = (const char *const *)names.items, .n_classes = nc,
                               .highlight = highlight, .x_label = xl, .y_label = yl};
        bs_report_draw_scatter(fp, &s);
    }
    bs_strlist_free(&names);
    free(x);
    free(y);
    free(cls);
}

/* A regression evaluation's predictions have no score_CLASS columns. */
static int is_regression(const bs_tsv *p)
{
    for (int c = 0; c < p->n_cols; c++)
        if (!strncmp(p->header[c], "score_", 6))
            return 0;
    return 1;
}

/* ---- subject page -------------------------------------------------------- */

static int64_t model_row(const report_model *m, const char *sub)
{
    for (int64_t i = 0; i < m->n; i++)
        if (!strcmp(m->ids[i], sub))
            return i;
    return -1;
}

static void subject_embedding(FILE *fp, const report_group *g, const report_model *m, const char *sub)
{
    int64_t row = model_row(m, sub);
    char title[160];
    snprintf(title, sizeof title, "Embedding: %s", m->name);
    fprintf(fp, "<h3>");
    bs_report_text(fp, title);
    fputs("</h3>\n", fp);
    if (row < 0) {
        bs_report_note(fp, 1, "This subject has no row in the embedding table.");
        return;
    }
    /* the subject's vector, each feature z-scored across the cohort */
    float *z = malloc((size_t)m->d * sizeof *z);
    double norm = 0;
    for (int64_t j = 0; z && j < m->d; j++) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < m->n; i++) {
            s += m->X[i * m->d + j];
            ss += (double)m->X[i * m->d + j] * m->X[i * m->d + j];
        }
        double mean = s / m->n, var = m->n > 1 ? (ss - m->n * mean * mean) / (m->n - 1) : 0;
        double x = m->X[row * m->d + j];
        z[j] = (float)(var > 0 ? (x - mean) / sqrt(var) : 0.0);
        norm += x * x;
    }
    char v[4][64], a[32], b[32];
    const char *names[4] = {"features", "L2 norm", "PC1, PC2", "subjects in the table"};
    const char *values[4] = {v[0], v[1], v[2], v[3]};
    snprintf(v[0], sizeof v[0], "%lld", (long long)m->d);
    snprintf(v[1], sizeof v[1], "%s", bs_report_value(a, sqrt(norm), 4));
    snprintf(v[2], sizeof v[2], "%s, %s", bs_report_value(a, m->pc[2 * row], 3), bs_report_value(b, m->pc[2 * row + 1], 3));
    snprintf(v[3], sizeof v[3], "%lld", (long long)m->n);
    char id[160];
    snprintf(id, sizeof id, "embedding-%s-summary", m->name);
    bs_report_summary(fp, id, 4, names, values);
    snprintf(id, sizeof id, "embedding-%s", m->name);
    char caption[256];
    snprintf(caption, sizeof caption,
             "The subject's %lld %s features, each z-scored across the %lld subjects: blue below, red above the cohort mean "
             "(full colour at 3 sd).",
             (long long)m->d, m->name, (long long)m->n);
    if (z) {
        bs_report_heatmap h = {.id = id, .title = title, .caption = caption, .rows = 1, .cols = m->d, .values = z,
                               .vmin = -3, .vmax = 3, .width = 760, .height = 32,
                               .x_label = "feature", .x_max = (double)m->d};
        bs_report_draw_heatmap(fp, &h);
    }
    free(z);
    snprintf(id, sizeof id, "pca-%s", m->name);
    model_scatter(fp, g, m, row, id);
}

static void subject_predictions(FILE *fp, const report_group *g, const char *sub)
{
    fputs("<table id=\"predictions\">\n<tr><th>evaluation</th><th>fold</th><th>true</th><th>predicted</th>"
          "<th>score of the prediction</th><th>correct</th></tr>\n",
          fp);
    int rows = 0;
    for (int e = 0; e < g->n_evals; e++) {
        const bs_tsv *p = g->evals[e].predictions;
        if (!p)
            continue;
        int id = bs_tsv_column(p, "participant_id"), split = bs_tsv_column(p, "split");
        int tru = bs_tsv_column(p, "true"), pred = bs_tsv_column(p, "predicted");
        for (int64_t i = 0; id >= 0 && i < p->n_rows; i++) {
            if (strcmp(bs_tsv_cell(p, i, id), sub))
                continue;
            const char *t = tru >= 0 ? bs_tsv_cell(p, i, tru) : "n/a", *q = pred >= 0 ? bs_tsv_cell(p, i, pred) : "n/a";
            int regression = is_regression(p);
            char *score_col = bs_cli_strf("score_%s", q);
            int sc = score_col && !regression ? bs_tsv_column(p, score_col) : -1;
            free(score_col);
            fputs("<tr>", fp);
            cell(fp, "td", g->evals[e].name, 0);
            cell(fp, "td", split >= 0 ? bs_tsv_cell(p, i, split) : "n/a", 1);
            value_cell(fp, t);
            value_cell(fp, q);
            value_cell(fp, sc >= 0 ? bs_tsv_cell(p, i, sc) : "n/a");
            cell(fp, "td", regression || pred < 0 || tru < 0 ? "n/a" : !strcmp(t, q) ? "yes" : "no", 0);
            fputs("</tr>\n", fp);
            rows++;
        }
    }
    fputs("</table>\n", fp);
    if (!rows)
        bs_report_note(fp, 1, "No out-of-fold prediction for this subject (no k-fold evaluation, or the subject has no label).");
    else
        bs_report_note(fp, 0, "Out-of-fold predictions: the head that scored this subject was trained on the other folds.");
}

static void subject_group_section(FILE *fp, const report_group *g, const char *sub)
{
    bs_report_section_begin(fp, "group", "Group level: embeddings and predictions");
    fputs("<p class=\"note\">Cohort results: ", fp);
    link(fp, "group.html", "group report");
    fputs("</p>\n", fp);
    subject_predictions(fp, g, sub);
    for (int k = 0; k < g->n_models; k++)
        subject_embedding(fp, g, &g->models[k], sub);
    bs_report_section_end(fp);
}

int report_write_subject(const char *fmriprep_dir, const char *out_dir, const char *sub, const report_group *g,
                         bs_error *err)
{
    char *dir = bs_cli_strf("%s/%s", out_dir, sub), *path = bs_cli_strf("%s/%s.html", out_dir, sub);
    bs_strlist files = {0};
    report_run *runs = NULL;
    int n = 0, rc = dir && path ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    if (rc == BS_OK && (rc = bs_group_expand_inputs(dir, BS_GROUP_TS_SUFFIX, &files, err)) == BS_OK)
        bs_group_unique(&files);
    if (rc == BS_OK && !(runs = calloc((size_t)files.n, sizeof *runs)))
        rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    for (; rc == BS_OK && n < files.n; n++)
        if ((rc = report_run_load(fmriprep_dir, files.items[n], &runs[n], err)))
            report_run_free(&runs[n]);
    bs_atomic_file f;
    if (rc == BS_OK && (rc = bs_atomic_open(&f, path, err)) == BS_OK) {
        char title[256];
        snprintf(title, sizeof title, "brainstage report: %s", sub);
        bs_report_begin(f.fp, title);
        fputs("<nav>", f.fp);
        for (int i = 0; i < n; i++) {
            char href[32], text[32];
            snprintf(href, sizeof href, "#run-%d", i);
            snprintf(text, sizeof text, "run %d", i + 1);
            link(f.fp, href, text);
        }
        if (g) {
            link(f.fp, "#group", "embeddings and predictions");
            link(f.fp, "group.html", "group report");
        }
        fputs("</nav>\n", f.fp);
        const char *label = report_group_label_of(g, sub);
        char runs_text[32];
        snprintf(runs_text, sizeof runs_text, "%d", n);
        const char *names[] = {"participant", "runs", "generated by", g ? g->label : NULL};
        const char *values[] = {sub, runs_text, "brainstage " PACKAGE_VERSION " (participant level"
                                                ", rewritten at group level when it runs)",
                                label ? label : "n/a"};
        bs_report_summary(f.fp, "subject-summary", g ? 4 : 3, names, values);
        for (int i = 0; i < n; i++)
            report_run_write(f.fp, &runs[i], i);
        if (g)
            subject_group_section(f.fp, g, sub);
        bs_report_end(f.fp);
        rc = bs_atomic_commit(&f, err);
    }
    for (int i = 0; i < n && runs; i++)
        report_run_free(&runs[i]);
    free(runs);
    bs_strlist_free(&files);
    free(dir);
    free(path);
    return rc;
}

/* ---- group page -------------------------------------------------------------- */

/* What a loss-log column measures. */
static const char *loss_meaning(const char *col)
{
    static const char *const known[][2] = {
        {"total", "total loss"},
        {"byol", "LRA: BYOL alignment of two pFC views"},
        {"nce", "MRM: masked-ROI identification (InfoNCE)"},
        {"mse", "MRM: masked-ROI regression (MSE)"},
        {"nce_acc", "MRM: identification accuracy"},
        {"loss", "masked reconstruction loss (weighted MSE)"},
        {"lr", "learning rate"},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (!strcmp(col, known[k][0]))
            return known[k][1];
    return col;
}

static void group_losses(FILE *fp, const report_group *g)
{
    bs_report_section_begin(fp, "learning-curves", "Pretraining learning curves");
    if (!g->n_losses)
        bs_report_note(fp, 0, "No pretraining loss logs (group/model-*_loss.tsv).");
    for (int k = 0; k < g->n_losses; k++) {
        const bs_tsv *t = g->losses[k].log;
        fputs("<h3>", fp);
        bs_report_text(fp, g->losses[k].name);
        fputs("</h3>\n", fp);
        int xc = t->n_cols > 0 && (!strcmp(t->header[0], "step") || !strcmp(t->header[0], "epoch")) ? 0 : -1;
        double *x = malloc(((size_t)t->n_rows + 1) * sizeof *x), *y = malloc(((size_t)t->n_rows + 1) * sizeof *y);
        bs_error err = {0};
        if (!x || !y || (xc >= 0 && bs_tsv_column_double(t, t->header[xc], x, &err))) {
            free(x);
            free(y);
            continue;
        }
        fputs("<div class=\"panels\">\n", fp);
        for (int c = 0; c < t->n_cols; c++) {
            if (c == xc || !strcmp(t->header[c], "seconds") || bs_tsv_column_double(t, t->header[c], y, &err))
                continue;
            char id[160], title[256];
            snprintf(id, sizeof id, "loss-%s-%s", g->losses[k].name, t->header[c]);
            snprintf(title, sizeof title, "%s: %s", g->losses[k].name, loss_meaning(t->header[c]));
            const double *series[1] = {y};
            const char *names[1] = {t->header[c]};
            bs_report_lines l = {.id = id, .title = title, .caption = title, .n = t->n_rows,
                                 .x = xc >= 0 ? x : NULL, .n_series = 1, .y = series, .names = names,
                                 .threshold = NAN, .x_label = xc >= 0 ? t->header[xc] : "row",
                                 .y_label = t->header[c], .width = 400, .height = 140};
            bs_report_draw_lines(fp, &l);
        }
        fputs("</div>\n", fp);
        free(x);
        free(y);
    }
    bs_report_section_end(fp);
}

static void metrics_table(FILE *fp, const report_eval *e)
{
    const bs_tsv *t = e->metrics;
    fputs("<table class=\"metrics\" id=\"metrics-", fp);
    bs_report_text(fp, e->name);
    fputs("\">\n<tr>", fp);
    for (int c = 0; c < t->n_cols; c++)
        cell(fp, "th", t->header[c], 0);
    fputs("</tr>\n", fp);
    for (int64_t i = 0; i < t->n_rows; i++) {
        fputs("<tr>", fp);
        for (int c = 0; c < t->n_cols; c++)
            value_cell(fp, bs_tsv_cell(t, i, c));
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

/* Row index of the split named `name` ("mean", "sd"), or -1. */
static int64_t split_row(const bs_tsv *t, const char *name)
{
    for (int64_t i = 0; i < t->n_rows; i++)
        if (!strcmp(bs_tsv_cell(t, i, 0), name))
            return i;
    return -1;
}

/* One row per evaluation, mean +- sd of every metric any of them has. */
static void metrics_summary(FILE *fp, const report_group *g)
{
    bs_strlist cols = {0};
    for (int e = 0; e < g->n_evals; e++)
        for (int c = 3; c < g->evals[e].metrics->n_cols; c++) /* after split, n_train, n_test */
            bs_strlist_push(&cols, g->evals[e].metrics->header[c]);
    bs_group_unique(&cols);
    fputs("<table class=\"metrics\" id=\"metrics-summary\">\n<tr><th>evaluation</th><th>splits</th>", fp);
    for (int c = 0; c < cols.n; c++)
        cell(fp, "th", cols.items[c], 0);
    fputs("</tr>\n", fp);
    for (int e = 0; e < g->n_evals; e++) {
        const bs_tsv *t = g->evals[e].metrics;
        int64_t mean = split_row(t, "mean"), sd = split_row(t, "sd");
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)(t->n_rows - (mean >= 0) - (sd >= 0)));
        fputs("<tr>", fp);
        cell(fp, "td", g->evals[e].name, 0);
        cell(fp, "td", n, 1);
        for (int c = 0; c < cols.n; c++) {
            int col = bs_tsv_column(t, cols.items[c]);
            char a[32], b[32], text[80] = "";
            if (col >= 0 && mean >= 0) {
                bs_report_value(a, parse_number(bs_tsv_cell(t, mean, col)), 3);
                bs_report_value(b, sd >= 0 ? parse_number(bs_tsv_cell(t, sd, col)) : NAN, 2);
                snprintf(text, sizeof text, "%s \u00b1 %s", a, b);
            }
            cell(fp, "td", text, 1);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n", fp);
    bs_strlist_free(&cols);
}

/* Values of a metric over the numbered splits of an evaluation. */
static int split_values(const report_eval *e, const char *metric, double *out)
{
    const bs_tsv *t = e->metrics;
    int col = bs_tsv_column(t, metric), n = 0;
    if (col < 0)
        return 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        const char *s = bs_tsv_cell(t, i, 0);
        if (!s[0] || strspn(s, "0123456789") != strlen(s))
            continue; /* mean, sd */
        out[n++] = parse_number(bs_tsv_cell(t, i, col));
    }
    return n;
}

static void metric_dots(FILE *fp, const report_group *g, const char *metric, double chance)
{
    const char **names = calloc((size_t)g->n_evals, sizeof *names);
    double **values = calloc((size_t)g->n_evals, sizeof *values);
    int *counts = calloc((size_t)g->n_evals, sizeof *counts), m = 0;
    for (int e = 0; names && values && counts && e < g->n_evals; e++) {
        double *v = malloc(((size_t)g->evals[e].metrics->n_rows + 1) * sizeof *v);
        int n = v ? split_values(&g->evals[e], metric, v) : 0;
        if (n > 0) {
            names[m] = g->evals[e].name;
            values[m] = v;
            counts[m++] = n;
        } else {
            free(v);
        }
    }
    if (m > 0) {
        char id[96], title[160], caption[320];
        snprintf(id, sizeof id, "dots-%s", metric);
        snprintf(title, sizeof title, "%s per split", metric);
        snprintf(caption, sizeof caption,
                 "%s of each cross-validation fold or few-shot repeat (dots) and their mean (bar)%s.", metric,
                 isfinite(chance) ? "; dashed: chance level" : "");
        bs_report_dots d = {.id = id, .title = title, .caption = caption, .n_groups = m, .group_names = names,
                            .counts = counts, .values = (const double *const *)values, .reference = chance,
                            .y_label = metric};
        bs_report_draw_dots(fp, &d);
    }
    for (int k = 0; k < m; k++)
        free(values[k]);
    free(names);
    free(values);
    free(counts);
}

static void group_metrics(FILE *fp, const report_group *g)
{
    bs_report_section_begin(fp, "metrics", "Cross-validated metrics");
    if (!g->n_evals)
        bs_report_note(fp, 0, "No evaluations (group/eval-*_metrics.tsv).");
    /* the headline metrics as figures; every metric is in the tables below */
    static const char *const metrics[] = {"balanced_acc", "auc", "mae", "pearson_r"};
    fputs("<div class=\"panels\">\n", fp);
    for (size_t k = 0; k < sizeof metrics / sizeof metrics[0]; k++) {
        int chance = !strcmp(metrics[k], "auc") || !strcmp(metrics[k], "balanced_acc");
        metric_dots(fp, g, metrics[k], chance ? 0.5 : NAN);
    }
    fputs("</div>\n", fp);
    if (g->n_evals)
        metrics_summary(fp, g);
    for (int e = 0; e < g->n_evals; e++) { /* per-split tables folded away (native <details>, no script) */
        fputs("<details><summary>per split: ", fp);
        bs_report_text(fp, g->evals[e].name);
        fputs("</summary>\n", fp);
        metrics_table(fp, &g->evals[e]);
        fputs("</details>\n", fp);
    }
    bs_report_section_end(fp);
}

static const char *predicted_for(const report_eval *e, const char *sub, const char **truth)
{
    const bs_tsv *p = e->predictions;
    int id = bs_tsv_column(p, "participant_id"), pred = bs_tsv_column(p, "predicted"), tru = bs_tsv_column(p, "true");
    for (int64_t i = 0; id >= 0 && pred >= 0 && i < p->n_rows; i++)
        if (!strcmp(bs_tsv_cell(p, i, id), sub)) {
            *truth = tru >= 0 ? bs_tsv_cell(p, i, tru) : NULL;
            return bs_tsv_cell(p, i, pred);
        }
    return NULL;
}

static void group_subjects(FILE *fp, const report_group *g, const bs_strlist *subjects)
{
    bs_report_section_begin(fp, "subjects", "Subjects");
    fputs("<table id=\"subject-table\">\n<tr><th>participant</th>", fp);
    cell(fp, "th", g->label, 0);
    for (int e = 0; e < g->n_evals; e++)
        if (g->evals[e].predictions) {
            char *h = bs_cli_strf("predicted (%s)", g->evals[e].name);
            cell(fp, "th", h ? h : "predicted", 0);
            free(h);
        }
    fputs("<th>report</th></tr>\n", fp);
    for (int i = 0; i < subjects->n; i++) {
        const char *sub = subjects->items[i], *label = report_group_label_of(g, sub);
        fputs("<tr>", fp);
        cell(fp, "td", sub, 0);
        cell(fp, "td", label ? label : "n/a", 0);
        for (int e = 0; e < g->n_evals; e++) {
            if (!g->evals[e].predictions)
                continue;
            const char *truth = NULL, *pred = predicted_for(&g->evals[e], sub, &truth);
            char *text = pred ? bs_cli_strf("%s%s", pred, truth && strcmp(truth, pred) ? " (wrong)" : "") : NULL;
            if (pred && is_regression(g->evals[e].predictions))
                value_cell(fp, pred);
            else
                cell(fp, "td", text ? text : "n/a", 0);
            free(text);
        }
        fputs("<td>", fp);
        char *href = bs_cli_strf("%s.html", sub);
        link(fp, href ? href : "", "report");
        free(href);
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n", fp);
    bs_report_section_end(fp);
}

int report_write_group(const char *out_dir, const report_group *g, const bs_strlist *subjects, bs_error *err)
{
    char *path = bs_cli_strf("%s/group.html", out_dir);
    if (!path)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    free(path);
    if (rc)
        return rc;
    FILE *fp = f.fp;
    bs_report_begin(fp, "brainstage group report");
    fputs("<nav>", fp);
    link(fp, "#learning-curves", "learning curves");
    link(fp, "#metrics", "metrics");
    link(fp, "#embeddings", "embeddings");
    link(fp, "#subjects", "subjects");
    fputs("</nav>\n", fp);
    char nsub[32], nmod[32], neval[32];
    snprintf(nsub, sizeof nsub, "%d", subjects->n);
    snprintf(nmod, sizeof nmod, "%d", g->n_models);
    snprintf(neval, sizeof neval, "%d", g->n_evals);
    const char *names[] = {"subjects with a report", "participants table", "target column", "embedding models",
                           "evaluations", "generated by"};
    const char *values[] = {nsub, g->participants_path ? g->participants_path : "n/a", g->label, nmod, neval,
                            "brainstage " PACKAGE_VERSION};
    bs_report_summary(fp, "group-summary", 6, names, values);
    if (g->participants_path && !g->participants)
        bs_report_note(fp, 1, "The participants table could not be read: labels are not shown.");
    group_losses(fp, g);
    group_metrics(fp, g);
    bs_report_section_begin(fp, "embeddings", "Embeddings");
    if (!g->n_models)
        bs_report_note(fp, 0, "No embedding tables (group/features-*.tsv).");
    fputs("<div class=\"panels\">\n", fp);
    for (int k = 0; k < g->n_models; k++) {
        char id[160];
        fputs("<div>\n<h3>", fp);
        bs_report_text(fp, g->models[k].name);
        fputs("</h3>\n", fp);
        snprintf(id, sizeof id, "pca-%s", g->models[k].name);
        model_scatter(fp, g, &g->models[k], -1, id);
        fputs("</div>\n", fp);
    }
    fputs("</div>\n", fp);
    bs_report_section_end(fp);
    group_subjects(fp, g, subjects);
    bs_report_end(fp);
    return bs_atomic_commit(&f, err);
}
