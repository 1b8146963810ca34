/* test_report.c - the report drawing library (brainstage/report.h):
 * escaping and invalid UTF-8, locale-independent coordinates, no NaN/inf in
 * any output, and the element counts the browser test relies on. */
#define _GNU_SOURCE 1
#include "brainstage/report.h"
#include "testutil.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Runs fn(fp, arg) into a memory buffer; caller frees. */
static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    fn(fp, arg);
    fclose(fp);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* No "nan"/"inf" anywhere (case-insensitive), as text or as a number. */
static int has_nonfinite(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!strncasecmp(p, "nan", 3) || !strncasecmp(p, "inf", 3))
            return 1;
    return 0;
}

static void text_fn(FILE *fp, const void *arg) { bs_report_text(fp, arg); }

static void test_escaping(void)
{
    char *s = capture(text_fn, "<a href=\"x\">&'");
    CHECK(!strcmp(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"));
    free(s);
    s = capture(text_fn, "caf\xc3\xa9 \xe2\x82\xac"); /* valid UTF-8 kept */
    CHECK(!strcmp(s, "caf\xc3\xa9 \xe2\x82\xac"));
    free(s);
    s = capture(text_fn, "a\xff" "b"); /* stray byte */
    CHECK(!strcmp(s, "a&#xFFFD;b"));
    free(s);
    s = capture(text_fn, "\xc0\xaf"); /* overlong '/' */
    CHECK_MSG(count(s, "&#xFFFD;") == 2 && !strchr(s, '/'), "%s", s);
    free(s);
    s = capture(text_fn, "\xed\xa0\x80"); /* a UTF-16 surrogate */
    CHECK_MSG(count(s, "&#xFFFD;") == 3, "%s", s);
    free(s);
    s = capture(text_fn, "x\x01y\x7f\tz"); /* controls, tab kept */
    CHECK(!strcmp(s, "x&#xFFFD;y&#xFFFD;\tz"));
    free(s);
    s = capture(text_fn, "\xe2\x82"); /* truncated at the end */
    CHECK_MSG(count(s, "&#xFFFD;") == 2, "%s", s);
    free(s);
}

static void test_numbers(void)
{
    char b[32];
    CHECK(!strcmp(bs_report_coord(b, 1.234), "1.23"));
    CHECK(!strcmp(bs_report_coord(b, 2.5), "2.5"));
    CHECK(!strcmp(bs_report_coord(b, -3), "-3"));
    CHECK(!strcmp(bs_report_coord(b, 0.1), "0.1"));
    CHECK(!strcmp(bs_report_coord(b, -0.004), "0"));
    CHECK(!strcmp(bs_report_coord(b, -0.25), "-0.25"));
    CHECK(!strcmp(bs_report_coord(b, 0.05), "0.05"));
    CHECK(!strcmp(bs_report_coord(b, NAN), "0"));
    CHECK(!strcmp(bs_report_coord(b, INFINITY), "0"));
    CHECK(!strcmp(bs_report_coord(b, -INFINITY), "0"));
    CHECK(!strcmp(bs_report_coord(b, 1e30), "10000000"));
    CHECK(!strcmp(bs_report_coord(b, -1e30), "-10000000"));
    CHECK(!strcmp(bs_report_value(b, NAN, 3), "n/a"));
    CHECK(!strcmp(bs_report_value(b, INFINITY, 3), "n/a"));
    CHECK(!strcmp(bs_report_value(b, 0.5, 3), "0.5"));
    CHECK(!strcmp(bs_report_value(b, -0.0, 3), "0"));
    CHECK(!strcmp(bs_report_value(b, 1234.5678, 3), "1.23e+03"));
    /* a locale with a decimal comma changes neither */
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
    for (size_t k = 0; k < sizeof locales / sizeof locales[0]; k++) {
        if (!setlocale(LC_NUMERIC, locales[k]))
            continue;
        CHECK(!strcmp(bs_report_coord(b, 1.5), "1.5"));
        CHECK(!strcmp(bs_report_value(b, 1.5, 3), "1.5"));
        setlocale(LC_NUMERIC, "C");
        break;
    }
}

static void test_colours(void)
{
    char b[8];
    CHECK(!strcmp(bs_report_diverging(b, -1), "#2166ac"));
    CHECK(!strcmp(bs_report_diverging(b, 0), "#f7f7f7"));
    CHECK(!strcmp(bs_report_diverging(b, 1), "#b2182b"));
    CHECK(!strcmp(bs_report_diverging(b, 7), "#b2182b"));
    CHECK(!strcmp(bs_report_diverging(b, NAN), BS_REPORT_NODATA));
    CHECK(strcmp(bs_report_palette(0), bs_report_palette(1)) != 0);
    CHECK(!strcmp(bs_report_palette(-1), bs_report_palette(9)));
}

/* Sum of the run lengths in the heatmap paths ("M<col> <row>h<len>v1h-<len>z"). */
static long long covered_cells(const char *svg)
{
    long long total = 0;
    for (const char *p = svg; (p = strstr(p, "v1h-")); p += 4) {
        const char *h = p;
        while (h > svg && h[-1] != 'h')
            h--;
        total += atoll(h);
    }
    return total;
}

static void heatmap_fn(FILE *fp, const void *arg) { bs_report_draw_heatmap(fp, arg); }
static void bars_fn(FILE *fp, const void *arg) { bs_report_draw_bars(fp, arg); }
static void lines_fn(FILE *fp, const void *arg) { bs_report_draw_lines(fp, arg); }
static void scatter_fn(FILE *fp, const void *arg) { bs_report_draw_scatter(fp, arg); }
static void dots_fn(FILE *fp, const void *arg) { bs_report_draw_dots(fp, arg); }

static void test_heatmap(void)
{
    const float v[12] = {0.5f, NAN, -0.5f, 0.0f, INFINITY, 1.0f, 1.0f, 1.0f, -1.0f, 0.2f, NAN, 3.0f};
    const char *labels[3] = {"<b>roi&1</b>", "roi\xff", "roi 3"};
    const int groups[3] = {1, 0, 1};
    const char *gnames[2] = {"Vis", "\"Default\""};
    const int64_t order[3] = {1, 0, 2};
    bs_report_heatmap h = {.id = "hm", .title = "t<1>", .caption = "c&", .rows = 3, .cols = 4, .values = v,
                           .row_order = order, .row_groups = groups, .group_names = gnames, .n_groups = 2,
                           .row_labels = labels, .vmin = -1, .vmax = 1, .colorbar_label = "r", .width = 200,
                           .height = 90, .x_label = "time (s)", .x_max = 8};
    char *s = capture(heatmap_fn, &h);
    CHECK_MSG(count(s, "class=\"hm-row\"") == 3, "%d rows", count(s, "class=\"hm-row\""));
    CHECK_MSG(covered_cells(s) == 12, "%lld cells", covered_cells(s));
    CHECK(!has_nonfinite(s));
    CHECK(!strstr(s, "<b>") && strstr(s, "&lt;b&gt;roi&amp;1&lt;/b&gt;"));
    CHECK(strstr(s, "roi&#xFFFD;") != NULL);
    CHECK(strstr(s, "<title>t&lt;1&gt;</title>") && strstr(s, "<figcaption>c&amp;</figcaption>"));
    CHECK(count(s, "fill=\"" BS_REPORT_NODATA "\"") >= 1); /* NaN and inf cells are no-data */
    CHECK(count(s, "class=\"group\"") == 2);                 /* display order 1,0,2 -> groups 0,1,1 */
    CHECK(count(s, "class=\"boundary\"") == 1);
    CHECK(count(s, "class=\"cb\"") == 21);
    free(s);
    /* huge matrices: many rows without labels, still one row group each */
    enum { R = 60 };
    float *big = malloc(sizeof(float) * R * R);
    for (int i = 0; i < R * R; i++)
        big[i] = (float)sin(i * 0.37);
    bs_report_heatmap hb = {.id = "big", .title = "big", .rows = R, .cols = R, .values = big, .vmin = -1, .vmax = 1};
    s = capture(heatmap_fn, &hb);
    CHECK(count(s, "class=\"hm-row\"") == R && covered_cells(s) == R * R && !has_nonfinite(s));
    CHECK(!strstr(s, "class=\"row-labels\"")); /* no labels given */
    free(s);
    free(big);
}

static void test_bars_lines(void)
{
    const double cov[5] = {1.0, 0.3, NAN, 0.9, 0.5};
    const char *labels[5] = {"a", "b", "c", "d", "e"};
    bs_report_bars b = {.id = "cov", .title = "coverage", .n = 5, .values = cov, .labels = labels, .ymin = 0,
                        .ymax = 1, .threshold = 0.5, .threshold_label = "min 0.5", .y_label = "coverage"};
    char *s = capture(bars_fn, &b);
    CHECK_MSG(count(s, "<rect class=\"bar\"") == 3 && count(s, "<rect class=\"bar flagged\"") == 1 &&
                  count(s, "<rect class=\"bar unknown\"") == 1,
              "%s", s);
    CHECK(count(s, "class=\"threshold\"") == 1);
    CHECK(!has_nonfinite(s) && strstr(s, "c: n/a")); /* the NaN bar's tooltip says n/a */
    free(s);
    const unsigned char flags[5] = {0, 0, 1, 0, 0}; /* the caller decides */
    b.flagged = flags;
    s = capture(bars_fn, &b);
    CHECK(count(s, "<rect class=\"bar\"") == 4 && count(s, "<rect class=\"bar flagged unknown\"") == 1);
    free(s);

    const double y[6] = {NAN, 0.1, 0.2, NAN, 0.8, 0.3};
    const double *series[1] = {y};
    const double from[2] = {3.5, NAN}, to[2] = {4.5, 5.0};
    const char *names[1] = {"FD"};
    bs_report_lines l = {.id = "fd", .title = "fd", .n = 6, .n_series = 1, .y = series, .names = names,
                         .threshold = 0.5, .threshold_label = "threshold", .n_marks = 2, .mark_from = from,
                         .mark_to = to, .mark_label = "censored", .y_from_zero = 1};
    s = capture(lines_fn, &l);
    CHECK(count(s, "class=\"series\"") == 1);
    const char *d = strstr(s, "class=\"series\"");
    CHECK(d && count(d, "M") >= 2); /* the NaN at 3 breaks the line */
    CHECK_MSG(count(s, "<rect class=\"mark\"") == 1, "marks: %d", count(s, "<rect class=\"mark\"")); /* NaN mark skipped */
    CHECK(!has_nonfinite(s));
    free(s);
    /* all values missing: still a valid, empty chart */
    const double none[3] = {NAN, NAN, NAN};
    const double *ns[1] = {none};
    bs_report_lines e = {.id = "e", .title = "e", .n = 3, .n_series = 1, .y = ns, .threshold = NAN};
    s = capture(lines_fn, &e);
    CHECK(!has_nonfinite(s) && strstr(s, "</svg>"));
    free(s);
}

static void test_scatter_dots(void)
{
    const double x[4] = {0, 1, NAN, 3}, y[4] = {1, 2, 3, INFINITY};
    const int cls[4] = {0, 1, 0, -1};
    const char *names[2] = {"control", "<patient>"};
    bs_report_scatter sc = {.id = "pca", .title = "pca", .n = 4, .x = x, .y = y, .cls = cls, .class_names = names,
                            .n_classes = 2, .highlight = 1};
    char *s = capture(scatter_fn, &sc);
    CHECK_MSG(count(s, "<circle class=\"point") == 2, "%s", s); /* two finite points */
    CHECK(count(s, "class=\"point highlight\"") == 1);
    CHECK(strstr(s, "&lt;patient&gt;") && !has_nonfinite(s));
    free(s);
    const double a[3] = {0.5, 0.7, NAN}, b[2] = {0.9, 1.0};
    const double *vals[2] = {a, b};
    const int counts[2] = {3, 2};
    const char *groups[2] = {"fc_head-logreg", "brainmass_head-logreg_shots-5"};
    bs_report_dots dots = {.id = "dots", .title = "auc", .n_groups = 2, .group_names = groups, .counts = counts,
                           .values = vals, .reference = 0.5, .y_label = "auc"};
    s = capture(dots_fn, &dots);
    CHECK(count(s, "class=\"dot\"") == 4 && count(s, "class=\"mean\"") == 2);
    CHECK(strstr(s, ">shots-5</text>") != NULL); /* labels broken at '_' */
    CHECK(!has_nonfinite(s));
    free(s);
}

static void page_fn(FILE *fp, const void *arg)
{
    bs_report_begin(fp, arg);
    bs_report_section_begin(fp, "s\"1", "Sec <1>");
    const char *names[1] = {"k&"}, *values[1] = {"<v>"};
    bs_report_summary(fp, "sum", 1, names, values);
    bs_report_note(fp, 1, "warn <x>");
    bs_report_section_end(fp);
    bs_report_end(fp);
}

static void test_page(void)
{
    char *s = capture(page_fn, "sub-<01>");
    CHECK(!strncmp(s, "<!DOCTYPE html>", 15) && strstr(s, "</html>"));
    CHECK(strstr(s, "<title>sub-&lt;01&gt;</title>") && strstr(s, "<h1>sub-&lt;01&gt;</h1>"));
    CHECK(strstr(s, "id=\"s&quot;1\"") && strstr(s, "<th>k&amp;</th><td>&lt;v&gt;</td>"));
    CHECK(strstr(s, "class=\"warning\">warn &lt;x&gt;"));
    CHECK(!strstr(s, "<script") && !strstr(s, "http://") && !strstr(s, "https://") && !strstr(s, "@import"));
    free(s);
}

int main(void)
{
    test_escaping();
    test_numbers();
    test_colours();
    test_heatmap();
    test_bars_lines();
    test_scatter_dots();
    test_page();
    return TEST_RESULT();
}
