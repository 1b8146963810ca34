/* report_svg.c - inline SVG figures for the HTML reports
 * (brainstage/report.h): heatmaps, bars, line charts, scatter and dot
 * plots, drawn with static SVG only (no script), so any browser shows them.
 *
 * Every coordinate goes through bs_report_coord() and every piece of text
 * through bs_report_text(); non-finite data never reaches a coordinate. */
#include "brainstage/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_MAX 48 /* draw per-row / per-bar labels up to this many */

/* ---- small writers --------------------------------------------------- */

static void num(FILE *fp, double v)
{
    char b[32];
    fputs(bs_report_coord(b, v), fp);
}

/* A positive scale factor with 6 decimals, locale independent. */
static void fine(FILE *fp, double v)
{
    if (!isfinite(v) || v < 0.0)
        v = 0.0;
    if (v > 1e6)
        v = 1e6;
    long long u = llround(v * 1e6);
    fprintf(fp, "%lld.%06lld", u / 1000000, u % 1000000);
}

/* ` name="v"` */
static void attr(FILE *fp, const char *name, double v)
{
    fprintf(fp, " %s=\"", name);
    num(fp, v);
    fputc('"', fp);
}

static void line(FILE *fp, const char *cls, double x1, double y1, double x2, double y2)
{
    fprintf(fp, "<line class=\"%s\"", cls);
    attr(fp, "x1", x1);
    attr(fp, "y1", y1);
    attr(fp, "x2", x2);
    attr(fp, "y2", y2);
    fputs("/>\n", fp);
}

/* <text> at (x, y); anchor "start"|"middle"|"end"; rotate in degrees. */
static void text(FILE *fp, double x, double y, const char *anchor, double rotate, const char *s)
{
    fputs("<text", fp);
    attr(fp, "x", x);
    attr(fp, "y", y);
    fprintf(fp, " text-anchor=\"%s\"", anchor);
    if (rotate != 0.0) {
        fputs(" transform=\"rotate(", fp);
        num(fp, rotate);
        fputc(' ', fp);
        num(fp, x);
        fputc(' ', fp);
        num(fp, y);
        fputs(")\"", fp);
    }
    fputc('>', fp);
    bs_report_text(fp, s);
    fputs("</text>\n", fp);
}

static void text_value(FILE *fp, double x, double y, const char *anchor, double v)
{
    char b[32];
    text(fp, x, y, anchor, 0.0, bs_report_value(b, v, 3));
}

static void figure_begin(FILE *fp, const char *id, const char *title, double w, double h)
{
    fputs("<figure id=\"fig-", fp);
    bs_report_text(fp, id);
    fputs("\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"", fp);
    bs_report_text(fp, id);
    fputc('"', fp);
    attr(fp, "width", w);
    attr(fp, "height", h);
    fputs(" viewBox=\"0 0 ", fp);
    num(fp, w);
    fputc(' ', fp);
    num(fp, h);
    fputs("\" role=\"img\">\n<title>", fp);
    bs_report_text(fp, title);
    fputs("</title>\n", fp);
    /* white background, so a screenshot shows the figure's extent */
    fputs("<rect class=\"background\" x=\"0\" y=\"0\"", fp);
    attr(fp, "width", w);
    attr(fp, "height", h);
    fputs(" fill=\"#ffffff\"/>\n", fp);
}

static void figure_end(FILE *fp, const char *caption)
{
    fputs("</svg>\n", fp);
    if (caption) {
        fputs("<figcaption>", fp);
        bs_report_text(fp, caption);
        fputs("</figcaption>\n", fp);
    }
    fputs("</figure>\n", fp);
}

/* ---- scales and axes ------------------------------------------------- */

typedef struct scale {
    double d0, d1; /* data range */
    double p0, p1; /* pixel range */
} scale;

static double map(const scale *s, double v)
{
    double span = s->d1 - s->d0;
    return span != 0.0 ? s->p0 + (v - s->d0) / span * (s->p1 - s->p0) : 0.5 * (s->p0 + s->p1);
}

/* Finite range of values (n, possibly several arrays); [0, 1] when empty. */
static void finite_range(const double *v, int64_t n, double *lo, double *hi, int *any)
{
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        if (!*any || v[i] < *lo)
            *lo = v[i];
        if (!*any || v[i] > *hi)
            *hi = v[i];
        *any = 1;
    }
}

static void settle_range(double *lo, double *hi, int any)
{
    if (!any) {
        *lo = 0.0;
        *hi = 1.0;
    } else if (*hi - *lo <= 1e-12 * (fabs(*lo) + fabs(*hi)) || *hi == *lo) {
        double pad = *lo != 0.0 ? 0.5 * fabs(*lo) : 0.5;
        *lo -= pad;
        *hi += pad;
    }
}

/* Up to ~max_n "nice" ticks (1, 2, 5 x 10^k) inside [lo, hi]. */
static int nice_ticks(double lo, double hi, int max_n, double *ticks)
{
    if (!(hi > lo) || max_n < 2)
        return 0;
    double raw = (hi - lo) / (max_n - 1);
    double mag = pow(10.0, floor(log10(raw)));
    double step = mag;
    if (raw / mag > 5.0)
        step = 10.0 * mag;
    else if (raw / mag > 2.0)
        step = 5.0 * mag;
    else if (raw / mag > 1.0)
        step = 2.0 * mag;
    int n = 0;
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step && n < 32; t += step)
        ticks[n++] = fabs(t) < 1e-12 * step ? 0.0 : t;
    return n;
}

static void y_axis(FILE *fp, const scale *y, double x, const char *label)
{
    double ticks[32];
    int n = nice_ticks(y->d0, y->d1, 6, ticks);
    fputs("<g class=\"axis y-axis\">\n", fp);
    line(fp, "axis-line", x, y->p0, x, y->p1);
    for (int i = 0; i < n; i++) {
        double py = map(y, ticks[i]);
        line(fp, "tick", x - 4, py, x, py);
        text_value(fp, x - 6, py + 4, "end", ticks[i]);
    }
    if (label)
        text(fp, x - 50, 0.5 * (y->p0 + y->p1), "middle", -90.0, label);
    fputs("</g>\n", fp);
}

static void x_axis(FILE *fp, const scale *x, double y, const char *label)
{
    double ticks[32];
    int n = nice_ticks(x->d0, x->d1, 8, ticks);
    fputs("<g class=\"axis x-axis\">\n", fp);
    line(fp, "axis-line", x->p0, y, x->p1, y);
    for (int i = 0; i < n; i++) {
        double px = map(x, ticks[i]);
        line(fp, "tick", px, y, px, y + 4);
        text_value(fp, px, y + 16, "middle", ticks[i]);
    }
    if (label)
        text(fp, 0.5 * (x->p0 + x->p1), y + 32, "middle", 0.0, label);
    fputs("</g>\n", fp);
}

/* A dashed horizontal line at value v (when finite), labelled in the right margin. */
static void threshold_line(FILE *fp, const scale *y, double left, double w, double v, const char *label)
{
    if (!isfinite(v))
        return;
    double py = map(y, v);
    line(fp, "threshold", left, py, left + w, py);
    if (label)
        text(fp, left + w + 6, py + 4, "start", 0.0, label);
}

/* ---- heatmap ----------------------------------------------------------- */

static int64_t order_at(const int64_t *order, int64_t i)
{
    return order ? order[i] : i;
}

/* Colour level of v in [0, levels), or levels for no data. */
static int level_of(double v, double vmin, double vmax, int levels)
{
    if (!isfinite(v))
        return levels;
    double t = vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.5;
    int k = (int)floor(t * levels);
    return k < 0 ? 0 : k >= levels ? levels - 1 : k;
}

static void level_colour(char buf[8], int k, int levels)
{
    if (k >= levels)
        memcpy(buf, BS_REPORT_NODATA, 8);
    else
        bs_report_diverging(buf, levels > 1 ? -1.0 + 2.0 * (k + 0.5) / levels : 0.0);
}

/* One displayed row: horizontal runs of equal level, one <path> per level. */
static void heatmap_row(FILE *fp, const bs_report_heatmap *h, int64_t display_row, int levels, int *lv)
{
    const int64_t r = order_at(h->row_order, display_row);
    for (int64_t j = 0; j < h->cols; j++)
        lv[j] = level_of(h->values[r * h->cols + order_at(h->col_order, j)], h->vmin, h->vmax, levels);
    fputs("<g class=\"hm-row\" data-row=\"", fp);
    if (h->row_labels && h->row_labels[r])
        bs_report_text(fp, h->row_labels[r]);
    else
        fprintf(fp, "%lld", (long long)r);
    fputs("\">", fp);
    for (int k = 0; k <= levels; k++) {
        int open = 0;
        for (int64_t j = 0; j < h->cols;) {
            if (lv[j] != k) {
                j++;
                continue;
            }
            int64_t e = j;
            while (e < h->cols && lv[e] == k)
                e++;
            if (!open) {
                char c[8];
                level_colour(c, k, levels);
                fprintf(fp, "<path fill=\"%s\" d=\"", c);
                open = 1;
            }
            fprintf(fp, "M%lld %lldh%lldv1h-%lldz", (long long)j, (long long)display_row, (long long)(e - j),
                    (long long)(e - j));
            j = e;
        }
        if (open)
            fputs("\"/>", fp);
    }
    fputs("</g>\n", fp);
}

/* Group of the row shown at display position i, or -1. */
static int group_at(const bs_report_heatmap *h, int64_t i)
{
    return h->row_groups ? h->row_groups[order_at(h->row_order, i)] : -1;
}

static void heatmap_groups(FILE *fp, const bs_report_heatmap *h, double x0, double y0, double w, double ch,
                           double cw, int names)
{
    fputs("<g class=\"groups\">\n", fp);
    for (int64_t i = 0; i < h->rows;) {
        int g = group_at(h, i);
        int64_t e = i;
        while (e < h->rows && group_at(h, e) == g)
            e++;
        fputs("<rect class=\"group\"", fp);
        attr(fp, "x", x0 - 8);
        attr(fp, "y", y0 + i * ch);
        attr(fp, "width", 6);
        attr(fp, "height", (e - i) * ch);
        fprintf(fp, " fill=\"%s\"/>\n", bs_report_palette(g));
        if (names && h->group_names && g >= 0 && g < h->n_groups && (e - i) * ch >= 10)
            text(fp, x0 - 11, y0 + (i + e) * 0.5 * ch + 4, "end", 0.0, h->group_names[g]);
        if (i > 0) {
            line(fp, "boundary", x0, y0 + i * ch, x0 + w, y0 + i * ch);
            if (h->square_groups)
                line(fp, "boundary", x0 + i * cw, y0, x0 + i * cw, y0 + h->rows * ch);
        }
        i = e;
    }
    fputs("</g>\n", fp);
}

static void colorbar(FILE *fp, const bs_report_heatmap *h, double x, double y0, double height, int levels)
{
    fputs("<g class=\"colorbar\">\n", fp);
    double step = height / levels;
    for (int k = 0; k < levels; k++) {
        char c[8];
        level_colour(c, levels - 1 - k, levels); /* top = vmax */
        fputs("<rect class=\"cb\"", fp);
        attr(fp, "x", x);
        attr(fp, "y", y0 + k * step);
        attr(fp, "width", 14);
        attr(fp, "height", step + 0.5);
        fprintf(fp, " fill=\"%s\"/>\n", c);
    }
    text_value(fp, x + 18, y0 + 8, "start", h->vmax);
    if (h->vmin < 0.0 && h->vmax > 0.0)
        text_value(fp, x + 18, y0 + height * h->vmax / (h->vmax - h->vmin) + 4, "start", 0.0);
    text_value(fp, x + 18, y0 + height, "start", h->vmin);
    text(fp, x + 52, y0 + 0.5 * height, "middle", -90.0, h->colorbar_label);
    fputs("</g>\n", fp);
}

void bs_report_draw_heatmap(FILE *fp, const bs_report_heatmap *h)
{
    int levels = h->levels > 0 ? h->levels : 21;
    int row_labels = h->row_labels && h->rows <= LABELS_MAX;
    int groups = h->row_groups != NULL;
    double left = 50 + (row_labels ? 110 : groups && h->group_names ? 90 : 0) + (groups ? 10 : 0);
    double top = 12, bottom = h->x_label || h->x_max > 0 ? 44 : 12, right = h->colorbar_label ? 80 : 16;
    double w = h->width > 0 ? h->width : 600, ht = h->height > 0 ? h->height : 400;
    figure_begin(fp, h->id, h->title, left + w + right, top + ht + bottom);
    double cw = h->cols > 0 ? w / h->cols : w, ch = h->rows > 0 ? ht / h->rows : ht;
    int *lv = malloc(((size_t)h->cols + 1) * sizeof *lv);
    if (lv && h->rows > 0 && h->cols > 0) {
        /* cells in unit coordinates, scaled once: short paths, crisp edges */
        fputs("<g class=\"cells\" shape-rendering=\"crispEdges\" transform=\"translate(", fp);
        num(fp, left);
        fputc(' ', fp);
        num(fp, top);
        fputs(") scale(", fp);
        fine(fp, cw); /* scale factors need more than 2 decimals */
        fputc(' ', fp);
        fine(fp, ch);
        fputs(")\">\n", fp);
        for (int64_t i = 0; i < h->rows; i++)
            heatmap_row(fp, h, i, levels, lv);
        fputs("</g>\n", fp);
    }
    free(lv);
    if (groups)
        heatmap_groups(fp, h, left, top, w, ch, cw, !row_labels);
    if (row_labels) {
        fputs("<g class=\"row-labels\">\n", fp);
        for (int64_t i = 0; i < h->rows; i++)
            text(fp, left - (groups ? 11 : 3), top + (i + 0.5) * ch + 4, "end", 0.0,
                 h->row_labels[order_at(h->row_order, i)]);
        fputs("</g>\n", fp);
    }
    if (h->y_label)
        text(fp, 14, top + 0.5 * ht, "middle", -90.0, h->y_label);
    if (h->x_max > 0) {
        scale xs = {0, h->x_max, left, left + w};
        x_axis(fp, &xs, top + ht, h->x_label);
    } else if (h->x_label) {
        text(fp, left + 0.5 * w, top + ht + 30, "middle", 0.0, h->x_label);
    }
    if (h->colorbar_label)
        colorbar(fp, h, left + w + 12, top, ht, levels);
    figure_end(fp, h->caption);
}

/* ---- bars -------------------------------------------------------------- */

void bs_report_draw_bars(FILE *fp, const bs_report_bars *b)
{
    int labels = b->labels && b->n <= LABELS_MAX;
    double left = 72, top = 14, right = b->threshold_label ? 110 : 16, bottom = labels ? 110 : 30;
    double w = b->width > 0 ? b->width : 600, h = b->height > 0 ? b->height : 200;
    figure_begin(fp, b->id, b->title, left + w + right, top + h + bottom);
    scale y = {b->ymin, b->ymax > b->ymin ? b->ymax : b->ymin + 1, top + h, top};
    double band = b->n > 0 ? w / b->n : w, gap = band > 4 ? 0.15 * band : 0;
    fputs("<g class=\"bars\">\n", fp);
    for (int64_t i = 0; i < b->n; i++) {
        int64_t k = order_at(b->order, i);
        double v = b->values[k];
        int finite = isfinite(v);
        int flagged = b->flagged ? b->flagged[k] != 0 : finite && isfinite(b->threshold) && v < b->threshold;
        double top_v = finite ? (v < y.d0 ? y.d0 : v > y.d1 ? y.d1 : v) : y.d1;
        double py = map(&y, top_v);
        fprintf(fp, "<rect class=\"bar%s%s\"", flagged ? " flagged" : "", finite ? "" : " unknown");
        attr(fp, "x", left + i * band + 0.5 * gap);
        attr(fp, "y", py);
        attr(fp, "width", band - gap);
        attr(fp, "height", top + h - py);
        fputs("><title>", fp);
        if (b->labels)
            bs_report_text(fp, b->labels[k]);
        char val[32];
        fputs(": ", fp);
        fputs(bs_report_value(val, v, 3), fp);
        fputs("</title></rect>\n", fp);
    }
    fputs("</g>\n", fp);
    threshold_line(fp, &y, left, w, b->threshold, b->threshold_label);
    y_axis(fp, &y, left, b->y_label);
    line(fp, "axis-line", left, top + h, left + w, top + h);
    if (labels)
        for (int64_t i = 0; i < b->n; i++)
            text(fp, left + (i + 0.5) * band + 4, top + h + 8, "end", -60.0, b->labels[order_at(b->order, i)]);
    figure_end(fp, b->caption);
}

/* ---- lines ------------------------------------------------------------- */

static double x_at(const bs_report_lines *l, int64_t i)
{
    return l->x ? l->x[i] : (double)i;
}

void bs_report_draw_lines(FILE *fp, const bs_report_lines *l)
{
    double left = 72, top = 14, right = isfinite(l->threshold) && l->threshold_label ? 110 : 16, bottom = 44;
    double w = l->width > 0 ? l->width : 600, h = l->height > 0 ? l->height : 180;
    figure_begin(fp, l->id, l->title, left + w + right, top + h + bottom);
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    int anyx = 0, anyy = 0;
    if (l->x)
        finite_range(l->x, l->n, &x0, &x1, &anyx);
    else if (l->n > 0) {
        x0 = 0;
        x1 = (double)(l->n - 1);
        anyx = 1;
    }
    settle_range(&x0, &x1, anyx);
    for (int s = 0; s < l->n_series; s++)
        finite_range(l->y[s], l->n, &y0, &y1, &anyy);
    if (isfinite(l->threshold))
        finite_range(&l->threshold, 1, &y0, &y1, &anyy);
    if (l->y_from_zero) {
        double zero = 0.0;
        finite_range(&zero, 1, &y0, &y1, &anyy);
    }
    settle_range(&y0, &y1, anyy);
    y1 += 0.05 * (y1 - y0);
    scale xs = {x0, x1, left, left + w}, ys = {y0, y1, top + h, top};
    if (l->n_marks > 0) {
        fputs("<g class=\"marks\">\n", fp);
        for (int64_t m = 0; m < l->n_marks; m++) {
            double a = l->mark_from[m], b = l->mark_to[m];
            if (!isfinite(a) || !isfinite(b))
                continue;
            double pa = map(&xs, a), pb = map(&xs, b);
            fputs("<rect class=\"mark\"", fp);
            attr(fp, "x", pa);
            attr(fp, "y", top);
            attr(fp, "width", pb - pa > 1.5 ? pb - pa : 1.5);
            attr(fp, "height", h);
            fputs("/>\n", fp);
        }
        fputs("</g>\n", fp);
    }
    for (int s = 0; s < l->n_series; s++) {
        fprintf(fp, "<path class=\"series\" stroke=\"%s\" d=\"", bs_report_palette(s));
        int pen = 0;
        for (int64_t i = 0; i < l->n; i++) {
            double xv = x_at(l, i), yv = l->y[s][i];
            if (!isfinite(xv) || !isfinite(yv)) {
                pen = 0;
                continue;
            }
            fputc(pen ? 'L' : 'M', fp);
            num(fp, map(&xs, xv));
            fputc(' ', fp);
            num(fp, map(&ys, yv));
            pen = 1;
        }
        fputs("\"><title>", fp);
        bs_report_text(fp, l->names ? l->names[s] : "series");
        fputs("</title></path>\n", fp);
    }
    threshold_line(fp, &ys, left, w, l->threshold, l->threshold_label);
    y_axis(fp, &ys, left, l->y_label);
    x_axis(fp, &xs, top + h, l->x_label);
    int named = l->names && l->n_series > 1; /* one series: the axis label says it */
    if (named || (l->mark_label && l->n_marks > 0)) {
        fputs("<g class=\"legend\">\n", fp);
        double lx = left + 10, ly = top + 12;
        for (int s = 0; named && s < l->n_series; s++, lx += 120) {
            fprintf(fp, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, ly - 4,
                    bs_report_palette(s));
            text(fp, lx + 16, ly, "start", 0.0, l->names[s]);
        }
        if (l->mark_label && l->n_marks > 0) {
            fprintf(fp, "<rect class=\"mark legend-mark\" x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"10\"/>\n", lx, ly - 9);
            text(fp, lx + 16, ly, "start", 0.0, l->mark_label);
        }
        fputs("</g>\n", fp);
    }
    figure_end(fp, l->caption);
}

/* ---- scatter ----------------------------------------------------------- */

static void legend_classes(FILE *fp, const char *const *names, int n, double x, double y)
{
    fputs("<g class=\"legend\">\n", fp);
    for (int c = 0; names && c < n; c++) {
        fputs("<circle", fp);
        attr(fp, "cx", x + 5);
        attr(fp, "cy", y + 16 * c - 4);
        fprintf(fp, " r=\"4\" fill=\"%s\"/>\n", bs_report_palette(c));
        text(fp, x + 14, y + 16 * c, "start", 0.0, names[c]);
    }
    fputs("</g>\n", fp);
}

void bs_report_draw_scatter(FILE *fp, const bs_report_scatter *s)
{
    double left = 72, top = 14, right = 130, bottom = 44;
    double w = s->width > 0 ? s->width : 360, h = s->height > 0 ? s->height : 300;
    figure_begin(fp, s->id, s->title, left + w + right, top + h + bottom);
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    int ax = 0, ay = 0;
    finite_range(s->x, s->n, &x0, &x1, &ax);
    finite_range(s->y, s->n, &y0, &y1, &ay);
    settle_range(&x0, &x1, ax);
    settle_range(&y0, &y1, ay);
    double px = 0.06 * (x1 - x0), py = 0.06 * (y1 - y0);
    scale xs = {x0 - px, x1 + px, left, left + w}, ys = {y0 - py, y1 + py, top + h, top};
    fputs("<g class=\"points\">\n", fp);
    for (int pass = 0; pass < 2; pass++) { /* the highlighted point last, on top */
        for (int64_t i = 0; i < s->n; i++) {
            if ((i == s->highlight) != pass || !isfinite(s->x[i]) || !isfinite(s->y[i]))
                continue;
            int c = s->cls ? s->cls[i] : 0;
            fprintf(fp, "<circle class=\"point%s\"", pass ? " highlight" : "");
            attr(fp, "cx", map(&xs, s->x[i]));
            attr(fp, "cy", map(&ys, s->y[i]));
            fprintf(fp, " r=\"%s\" fill=\"%s\" fill-opacity=\"%s\"%s/>\n", pass ? "6" : "3.5",
                    c >= 0 ? bs_report_palette(c) : BS_REPORT_NODATA, pass ? "1" : "0.75",
                    pass ? " stroke=\"#000\" stroke-width=\"2\"" : "");
        }
    }
    fputs("</g>\n", fp);
    y_axis(fp, &ys, left, s->y_label);
    x_axis(fp, &xs, top + h, s->x_label);
    legend_classes(fp, s->class_names, s->n_classes, left + w + 14, top + 14);
    if (s->highlight >= 0 && s->highlight < s->n) {
        fputs("<circle cx=\"", fp);
        num(fp, left + w + 19);
        fputs("\" cy=\"", fp);
        num(fp, top + 14 + 16 * s->n_classes - 4);
        fputs("\" r=\"5\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>\n", fp);
        text(fp, left + w + 28, top + 14 + 16 * s->n_classes, "start", 0.0, "this subject");
    }
    figure_end(fp, s->caption);
}

/* ---- dots -------------------------------------------------------------- */

/* A horizontal label broken into lines at '_' (e.g. "fc_head-logreg_shots-5"). */
static void wrapped_label(FILE *fp, double x, double y, const char *s)
{
    char part[128];
    for (int k = 0; *s && k < 4; k++) {
        size_t len = strcspn(s, "_");
        snprintf(part, sizeof part, "%.*s", (int)(len < sizeof part ? len : sizeof part - 1), s);
        text(fp, x, y + 12 * k, "middle", 0.0, part);
        s += len;
        if (*s == '_')
            s++;
    }
}

void bs_report_draw_dots(FILE *fp, const bs_report_dots *d)
{
    double left = 72, top = 14, right = 16, bottom = 54;
    double w = d->width > 0 ? d->width : 110.0 * (d->n_groups > 0 ? d->n_groups : 1),
           h = d->height > 0 ? d->height : 220;
    figure_begin(fp, d->id, d->title, left + w + right, top + h + bottom);
    double lo = d->ymin, hi = d->ymax;
    if (!(hi > lo)) {
        int any = 0;
        for (int g = 0; g < d->n_groups; g++)
            finite_range(d->values[g], d->counts[g], &lo, &hi, &any);
        if (isfinite(d->reference))
            finite_range(&d->reference, 1, &lo, &hi, &any);
        settle_range(&lo, &hi, any);
        double pad = 0.08 * (hi - lo);
        lo -= pad;
        hi += pad;
    }
    scale ys = {lo, hi, top + h, top};
    double band = d->n_groups > 0 ? w / d->n_groups : w;
    if (isfinite(d->reference)) {
        double py = map(&ys, d->reference);
        line(fp, "reference", left, py, left + w, py);
    }
    for (int g = 0; g < d->n_groups; g++) {
        double cx = left + (g + 0.5) * band, sum = 0;
        int m = 0;
        fputs("<g class=\"dot-group\">\n", fp);
        for (int i = 0; i < d->counts[g]; i++) {
            double v = d->values[g][i];
            if (!isfinite(v))
                continue;
            /* deterministic spread so equal values stay visible */
            double dx = ((i % 7) - 3) * 0.06 * band;
            fputs("<circle class=\"dot\"", fp);
            attr(fp, "cx", cx + dx);
            attr(fp, "cy", map(&ys, v < lo ? lo : v > hi ? hi : v));
            fprintf(fp, " r=\"4\" fill=\"%s\" fill-opacity=\"0.8\"/>\n", bs_report_palette(g));
            sum += v;
            m++;
        }
        if (m > 0) {
            double py = map(&ys, sum / m);
            line(fp, "mean", cx - 0.3 * band, py, cx + 0.3 * band, py);
        }
        fputs("</g>\n", fp);
        wrapped_label(fp, cx, top + h + 14, d->group_names[g]);
    }
    y_axis(fp, &ys, left, d->y_label);
    line(fp, "axis-line", left, top + h, left + w, top + h);
    figure_end(fp, d->caption);
}
