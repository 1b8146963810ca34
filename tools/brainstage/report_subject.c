/* report_subject.c - OUTPUT_DIR/sub-X.html: one section per run (summary,
 * carpet plot, FD and censored volumes, FC heatmap, coverage per ROI) and,
 * after group level, the subject's embeddings and predictions. */
#define _GNU_SOURCE 1
#include "config.h"
#include "report_run.h"
#include "brainstage/fileio.h"
#include "brainstage/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARPET_MAX_COLUMNS 600 /* longer runs are averaged into this many bins */
#define CARPET_Z_RANGE 2.5

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Network names for display: numeric ids become "network N". */
static char **network_labels(const report_run *r)
{
    if (!r->network)
        return NULL;
    char **out = calloc((size_t)r->n_networks + 1, sizeof *out);
    for (int k = 0; out && k < r->n_networks; k++) {
        const char *v = r->network_names[k];
        out[k] = v[0] && strspn(v, "0123456789") == strlen(v) ? bs_cli_strf("network %s", v) : strdup(v);
    }
    return out;
}

static void free_labels(char **l, int n)
{
    for (int k = 0; l && k < n; k++)
        free(l[k]);
    free(l);
}

static int roi_defined(const report_run *r, int c)
{
    for (int64_t t = 0; t < r->T; t++)
        if (isfinite(r->ts[t * r->R + c]))
            return 1;
    return 0;
}

/* ---- summary ------------------------------------------------------------ */

static void run_summary(FILE *fp, const report_run *r, int index)
{
    char v[12][256], a[32], b[32];
    const char *names[12], *values[12];
    int n = 0, undefined = 0;
    for (int c = 0; c < r->R; c++)
        undefined += !roi_defined(r, c);
    double sum = 0, mx = NAN;
    int64_t m = 0;
    for (int64_t t = 1; r->fd && t < r->n_fd; t++) /* row 0 has no FD */
        if (isfinite(r->fd[t])) {
            sum += r->fd[t];
            mx = m++ ? fmax(mx, r->fd[t]) : r->fd[t];
        }
#define ROW(name, ...) (names[n] = (name), snprintf(v[n], sizeof v[n], __VA_ARGS__), values[n] = v[n], n++)
    ROW("time series", "%s", base_name(r->ts_path));
    ROW("atlas", "%s%s%s", r->atlas ? r->atlas : "unknown", r->labels_path ? ", labels from " : "",
        r->labels_path ? base_name(r->labels_path) : "");
    ROW("ROIs", "%d (%d below the coverage threshold, without signal)", r->R, undefined);
    ROW("repetition time", "%s%s", r->tr > 0 ? bs_report_value(a, r->tr, 4) : "unknown", r->tr > 0 ? " s" : "");
    if (r->have_clean) {
        ROW("volumes", "%lld kept, %lld censored, %lld dummy scans removed", r->kept, r->flagged, r->dummy);
        if (r->fd) /* the confounds have one row per input volume */
            snprintf(v[n - 1], sizeof v[n - 1], "%lld in the input: %lld kept, %lld censored, %lld dummy scans removed",
                     (long long)r->n_fd, r->kept, r->flagged, r->dummy);
        ROW("denoising", "%s confounds, band-pass %s Hz, censoring FD > %s mm", r->strategy, r->band,
            bs_report_value(b, r->fd_max, 3));
    } else {
        ROW("volumes", "%lld (no cleaning summary in the sidecar)", (long long)r->T);
    }
    ROW("framewise displacement", "%s", m ? "" : "unavailable");
    if (m)
        snprintf(v[n - 1], sizeof v[n - 1], "mean %s mm, max %s mm", bs_report_value(a, sum / m, 3),
                 bs_report_value(b, mx, 3));
    ROW("confounds", "%s", r->confounds_path ? base_name(r->confounds_path) : "not found");
    ROW("connectivity", "%s", r->fc_source ? r->fc_source : "not computed");
#undef ROW
    char id[32];
    snprintf(id, sizeof id, "run-%d-summary", index);
    bs_report_summary(fp, id, n, names, values);
    for (int k = 0; k < r->warnings.n; k++)
        bs_report_note(fp, 1, r->warnings.items[k]);
}

/* ---- figures ---------------------------------------------------------- */

/* ROIs x time bins, each ROI z-scored over its kept volumes; volumes that
 * were censored or removed are no-data cells. */
static void run_carpet(FILE *fp, const report_run *r, int index, char **groups)
{
    int64_t bins = r->n_time < CARPET_MAX_COLUMNS ? r->n_time : CARPET_MAX_COLUMNS;
    float *cells = malloc((size_t)r->R * (size_t)bins * sizeof *cells);
    int *count = calloc((size_t)bins, sizeof *count);
    if (!cells || !count || bins < 1) {
        free(cells);
        free(count);
        return;
    }
    for (int c = 0; c < r->R; c++) {
        double s = 0, ss = 0;
        int64_t k = 0;
        for (int64_t t = 0; t < r->T; t++) {
            double x = r->ts[t * r->R + c];
            if (isfinite(x)) {
                s += x;
                ss += x * x;
                k++;
            }
        }
        double mean = k ? s / k : 0, var = k > 1 ? (ss - k * mean * mean) / (k - 1) : 0;
        double sd = var > 0 ? sqrt(var) : 0;
        float *row = cells + (int64_t)c * bins;
        for (int64_t j = 0; j < bins; j++)
            row[j] = 0.0f;
        memset(count, 0, (size_t)bins * sizeof *count);
        for (int64_t t = 0; t < r->T; t++) {
            double x = r->ts[t * r->R + c];
            if (!isfinite(x))
                continue;
            int64_t j = r->source[t] * bins / r->n_time;
            row[j] += (float)(sd > 0 ? (x - mean) / sd : 0.0);
            count[j]++;
        }
        for (int64_t j = 0; j < bins; j++)
            row[j] = count[j] ? row[j] / count[j] : NAN;
    }
    char id[32], title[96], caption[512];
    snprintf(id, sizeof id, "carpet-%d", index);
    snprintf(title, sizeof title, "Carpet plot: %d ROIs x %lld volumes", r->R, (long long)r->n_time);
    snprintf(caption, sizeof caption,
             "Cleaned ROI signals, each ROI z-scored (colour range +-%.1f)%s. Grey: censored or removed volumes, and "
             "ROIs without signal.%s",
             CARPET_Z_RANGE, r->network ? ", ROIs grouped by network" : "",
             bins < r->n_time ? " Volumes are averaged into bins." : "");
    bs_report_heatmap h = {
        .id = id, .title = title, .caption = caption, .rows = r->R, .cols = bins, .values = cells,
        .row_order = r->order, .row_groups = r->network, .group_names = (const char *const *)groups,
        .n_groups = r->n_networks, .row_labels = (const char *const *)r->display, .vmin = -CARPET_Z_RANGE,
        .vmax = CARPET_Z_RANGE, .colorbar_label = "z", .width = 760,
        .height = r->R * 3.0 < 220 ? 220 : r->R * 3.0 > 520 ? 520 : r->R * 3.0,
        .x_label = r->tr > 0 ? "time (s)" : "volume", .x_max = r->tr > 0 ? r->n_time * r->tr : (double)r->n_time,
        .y_label = "ROI"};
    bs_report_draw_heatmap(fp, &h);
    free(cells);
    free(count);
}

static void run_motion(FILE *fp, const report_run *r, int index)
{
    if (!r->fd) {
        bs_report_note(fp, 0, "Framewise displacement: no confounds file, no trace.");
        return;
    }
    double step = r->tr > 0 ? r->tr : 1.0;
    double *x = malloc((size_t)r->n_fd * sizeof *x), *y = malloc((size_t)r->n_fd * sizeof *y);
    double *from = malloc((size_t)r->n_fd * sizeof *from), *to = malloc((size_t)r->n_fd * sizeof *to);
    int64_t marks = 0, dummy = 0;
    for (int64_t t = 0; x && y && from && to && t < r->n_fd; t++) {
        x[t] = t * step;
        y[t] = t == 0 ? NAN : r->fd[t]; /* fMRIPrep's first FD is n/a */
        if (t < r->n_time && r->state[t] != REPORT_KEPT) {
            from[marks] = (t - 0.5) * step;
            to[marks++] = (t + 0.5) * step;
            dummy += r->state[t] == REPORT_DUMMY;
        }
    }
    if (x && y && from && to) {
        char id[32], caption[256];
        snprintf(id, sizeof id, "fd-%d", index);
        snprintf(caption, sizeof caption,
                 "Framewise displacement from the fMRIPrep confounds; shaded: %lld censored volumes%s.",
                 (long long)(marks - dummy), dummy ? " and the removed dummy scans" : "");
        const double *series[1] = {y};
        const char *names[1] = {"FD"};
        bs_report_lines l = {
            .id = id, .title = "Framewise displacement and censored volumes", .caption = caption,
            .n = r->n_fd, .x = x, .n_series = 1, .y = series, .names = names,
            .threshold = r->have_clean && r->fd_max > 0 ? r->fd_max : NAN, .threshold_label = "FD threshold",
            .n_marks = marks, .mark_from = from, .mark_to = to, .mark_label = "censored",
            .x_label = r->tr > 0 ? "time (s)" : "volume", .y_label = "FD (mm)", .y_from_zero = 1, .width = 760,
            .height = 160};
        bs_report_draw_lines(fp, &l);
    }
    free(x);
    free(y);
    free(from);
    free(to);
}

static void run_fc(FILE *fp, const report_run *r, int index, char **groups)
{
    double vmax = 1.0;
    for (int64_t k = 0; k < (int64_t)r->R * r->R; k++)
        if (isfinite(r->fc[k]) && k / r->R != k % r->R && fabs(r->fc[k]) > vmax)
            vmax = fabs(r->fc[k]); /* Fisher z can exceed 1 */
    char id[32], caption[512];
    snprintf(id, sizeof id, "fc-%d", index);
    snprintf(caption, sizeof caption, "Functional connectivity (%s)%s. Grey: ROIs without signal.",
             r->fc_source ? r->fc_source : "n/a", r->network ? ", ROIs ordered by network" : "");
    double side = r->R * 4.0 < 360 ? 360 : r->R * 4.0 > 620 ? 620 : r->R * 4.0;
    bs_report_heatmap h = {
        .id = id, .title = "Functional connectivity matrix", .caption = caption, .rows = r->R, .cols = r->R,
        .values = r->fc, .row_order = r->order, .col_order = r->order, .row_groups = r->network,
        .group_names = (const char *const *)groups, .n_groups = r->n_networks, .square_groups = 1,
        .row_labels = (const char *const *)r->display, .vmin = -vmax, .vmax = vmax, .colorbar_label = "r",
        .width = side, .height = side};
    bs_report_draw_heatmap(fp, &h);
}

static void run_coverage(FILE *fp, const report_run *r, int index)
{
    double *cov = malloc((size_t)r->R * sizeof *cov);
    unsigned char *flagged = malloc((size_t)r->R);
    if (!cov || !flagged) {
        free(cov);
        free(flagged);
        return;
    }
    int known = 0;
    for (int c = 0; c < r->R; c++) {
        cov[c] = r->coverage[c];
        known += isfinite(cov[c]);
        /* below the threshold, or without signal whatever the coverage says */
        flagged[c] = !roi_defined(r, c) || (isfinite(cov[c]) && isfinite(r->min_coverage) && cov[c] < r->min_coverage);
    }
    char id[32], caption[320], thr[48], b[32];
    snprintf(id, sizeof id, "coverage-%d", index);
    snprintf(thr, sizeof thr, "min_coverage %s", bs_report_value(b, r->min_coverage, 3));
    snprintf(caption, sizeof caption,
             "Fraction of each ROI's voxels inside the brain mask%s; orange: flagged (below the threshold, no "
             "signal).%s",
             isfinite(r->min_coverage) ? ", dashed line: min_coverage" : "",
             known ? "" : " Coverage unknown (no sidecar): faint full bars, only ROIs without signal are flagged.");
    bs_report_bars bars = {
        .id = id, .title = "Coverage per ROI", .caption = caption, .n = r->R, .values = cov, .flagged = flagged,
        .order = r->order, .labels = (const char *const *)r->display, .ymin = 0, .ymax = 1,
        .threshold = r->min_coverage, .threshold_label = isfinite(r->min_coverage) ? thr : NULL,
        .y_label = "coverage", .width = 760, .height = 160};
    bs_report_draw_bars(fp, &bars);
    free(cov);
    free(flagged);
}

void report_run_write(FILE *fp, const report_run *r, int index)
{
    char id[32], title[512];
    snprintf(id, sizeof id, "run-%d", index);
    snprintf(title, sizeof title, "Run %d: %s", index + 1, r->entities ? r->entities : base_name(r->ts_path));
    bs_report_section_begin(fp, id, title);
    run_summary(fp, r, index);
    char **groups = network_labels(r);
    fputs("<h3>ROI signals</h3>\n", fp);
    run_carpet(fp, r, index, groups);
    fputs("<h3>Motion and censoring</h3>\n", fp);
    run_motion(fp, r, index);
    fputs("<h3>Connectivity</h3>\n", fp);
    run_fc(fp, r, index, groups);
    fputs("<h3>Coverage</h3>\n", fp);
    run_coverage(fp, r, index);
    free_labels(groups, r->n_networks);
    bs_report_section_end(fp);
}
