/* brainstage/report.h - self-contained HTML reports with inline SVG figures.
 *
 * The drawing side of the per-subject and group reports (docs/reports.md):
 * safe text and number output, colour maps, and a few figure kinds that
 * take plain arrays.  Finding the data (BIDS layout, group outputs) is the
 * caller's business; these functions only write to a FILE *, so callers
 * write the page through bs_atomic_file and nothing partial ever appears.
 *
 * Safety rules every function here keeps:
 *   - all text (file names, ROI labels, column names) goes through
 *     bs_report_text(), which escapes HTML/XML metacharacters and replaces
 *     invalid UTF-8 and control characters;
 *   - every number written into SVG geometry goes through bs_report_coord(),
 *     which is locale independent and never writes "nan" or "inf";
 *   - data values that are not finite are drawn as "no data" (grey), never
 *     used as coordinates. */
#ifndef BRAINSTAGE_REPORT_H
#define BRAINSTAGE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- text and numbers ---------------------------------------------- */

/* Writes s escaped for HTML text and attribute values (& < > " '), with
 * invalid UTF-8 bytes and control characters other than tab/newline
 * replaced by U+FFFD.  NULL writes nothing. */
void bs_report_text(FILE *fp, const char *s);
/* printf-style, then escaped as bs_report_text. */
void bs_report_textf(FILE *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A coordinate for SVG: fixed point with at most 2 decimals, '.' as the
 * decimal mark whatever the locale, clamped to +-1e7; NaN and +-inf give
 * "0".  buf must hold 32 bytes; returns buf. */
char *bs_report_coord(char buf[32], double v);
/* A value for display: %.*g with `digits` significant digits in the C
 * locale's format, "n/a" when not finite.  buf: 32 bytes; returns buf. */
char *bs_report_value(char buf[32], double v, int digits);

/* "#rrggbb" of a diverging blue-white-red map at t in [-1, 1] (clamped;
 * NaN gives the no-data grey).  buf: 8 bytes; returns buf. */
char *bs_report_diverging(char buf[8], double t);
/* Colour i of a qualitative palette (cycles). */
const char *bs_report_palette(int i);
/* The grey used for "no data". */
#define BS_REPORT_NODATA "#c8c8c8"

/* ---- page ------------------------------------------------------------ */

/* <!DOCTYPE html> ... <body><h1>title</h1>, with the report's inline CSS.
 * No scripts, no external resources. */
void bs_report_begin(FILE *fp, const char *title);
void bs_report_end(FILE *fp);
/* <section id="id"><h2>title</h2> ... </section> */
void bs_report_section_begin(FILE *fp, const char *id, const char *title);
void bs_report_section_end(FILE *fp);
/* A two-column table of name/value rows: values[i] is plain text. */
void bs_report_summary(FILE *fp, const char *id, int n, const char *const *names, const char *const *values);
/* <p class="note">text</p>, with class "warning" when warning != 0. */
void bs_report_note(FILE *fp, int warning, const char *text);

/* ---- figures ----------------------------------------------------------
 * Each writes one <figure> holding one <svg id="..."> with a <title>, and a
 * <figcaption> when caption is set. */

/* A matrix of cells: FC (R x R), carpet (ROIs x time), embedding strips.
 * Each displayed row is one <g class="hm-row"> (rows elements in all), its
 * cells drawn as one <path> per colour level. */
typedef struct bs_report_heatmap {
    const char *id, *title, *caption;
    int64_t rows, cols;
    const float *values;          /* rows x cols, row-major; NaN = no data */
    const int64_t *row_order;     /* display position -> data row; NULL = identity */
    const int64_t *col_order;     /* display position -> data column; NULL = identity */
    const int *row_groups;        /* group of each data row (e.g. network); NULL = none */
    const char *const *group_names; /* n_groups names, may be NULL */
    int n_groups;
    int square_groups;            /* also draw group boundaries between columns (FC) */
    const char *const *row_labels; /* data-row labels: drawn when rows <= 48; NULL = none */
    double vmin, vmax;            /* colour range, centred diverging map */
    int levels;                   /* colour levels (odd; 0 = 21) */
    const char *colorbar_label;   /* NULL = no colour bar */
    double width, height;         /* plot area in px */
    const char *x_label, *y_label;
    double x_max;                 /* > 0: x axis ticks from 0 to x_max (e.g. seconds) */
} bs_report_heatmap;
void bs_report_draw_heatmap(FILE *fp, const bs_report_heatmap *h);

/* Bars with an optional threshold line: coverage per ROI.  Each bar is a
 * <rect class="bar">, with class "flagged" added when flagged (or, without
 * a flagged array, when below the threshold) and "unknown" when the value
 * is not finite (drawn faint at full height). */
typedef struct bs_report_bars {
    const char *id, *title, *caption;
    int64_t n;
    const double *values;
    const unsigned char *flagged; /* n flags; NULL = below the threshold */
    const int64_t *order;         /* display order; NULL = identity */
    const char *const *labels;    /* drawn when n <= 48 */
    double ymin, ymax;
    double threshold;             /* drawn when finite */
    const char *threshold_label;
    const char *y_label;
    double width, height;
} bs_report_bars;
void bs_report_draw_bars(FILE *fp, const bs_report_bars *b);

/* Line chart: series share one x axis; each is a <path class="series">
 * (non-finite points break the line).  marks: intervals of x shaded as
 * <rect class="mark"> (e.g. censored volumes), one per mark. */
typedef struct bs_report_lines {
    const char *id, *title, *caption;
    int64_t n;                    /* points per series */
    const double *x;              /* n values; NULL = 0 .. n-1 */
    int n_series;
    const double *const *y;       /* n_series arrays of n */
    const char *const *names;     /* legend; NULL = none */
    double threshold;             /* horizontal line when finite */
    const char *threshold_label;
    int64_t n_marks;
    const double *mark_from, *mark_to; /* x intervals */
    const char *mark_label;
    const char *x_label, *y_label;
    int y_from_zero;              /* y axis includes 0 */
    double width, height;
} bs_report_lines;
void bs_report_draw_lines(FILE *fp, const bs_report_lines *l);

/* Scatter plot of points coloured by class; one <circle class="point">
 * per point with a finite position; the highlighted one also gets class
 * "highlight" and a ring. */
typedef struct bs_report_scatter {
    const char *id, *title, *caption;
    int64_t n;
    const double *x, *y;
    const int *cls;               /* class of each point (-1 = unknown); NULL = all 0 */
    const char *const *class_names;
    int n_classes;
    int64_t highlight;            /* index or -1 */
    const char *x_label, *y_label;
    double width, height;
} bs_report_scatter;
void bs_report_draw_scatter(FILE *fp, const bs_report_scatter *s);

/* Dot plot: one column per group of values (e.g. a metric per fold for
 * each feature set), dots for the values and a bar for their mean.  Each
 * value is a <circle class="dot">. */
typedef struct bs_report_dots {
    const char *id, *title, *caption;
    int n_groups;
    const char *const *group_names;
    const int *counts;            /* values per group */
    const double *const *values;  /* n_groups arrays */
    double ymin, ymax;            /* ymin >= ymax: from the data */
    double reference;             /* dashed line when finite (e.g. chance) */
    const char *y_label;
    double width, height;
} bs_report_dots;
void bs_report_draw_dots(FILE *fp, const bs_report_dots *d);

#ifdef __cplusplus
}
#endif
#endif
