/* report_html.c - the text side of the HTML reports: escaping, safe
 * numbers, colours and the page skeleton (brainstage/report.h). */
#include "brainstage/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static int utf8_sequence(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int len;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1Fu;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0Fu;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void bs_report_text(FILE *fp, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        switch (c) {
        case '&': fputs("&amp;", fp); p++; continue;
        case '<': fputs("&lt;", fp); p++; continue;
        case '>': fputs("&gt;", fp); p++; continue;
        case '"': fputs("&quot;", fp); p++; continue;
        case '\'': fputs("&#39;", fp); p++; continue;
        default: break;
        }
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
            fputs("&#xFFFD;", fp);
            p++;
            continue;
        }
        int len = utf8_sequence(p);
        if (len == 0) {
            fputs("&#xFFFD;", fp);
            p++;
        } else {
            fwrite(p, 1, (size_t)len, fp);
            p += len;
        }
    }
}

void bs_report_textf(FILE *fp, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        bs_report_text(fp, small);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bs_report_text(fp, big);
    free(big);
}

char *bs_report_coord(char buf[32], double v)
{
    if (!isfinite(v))
        v = 0.0;
    if (v > 1e7)
        v = 1e7;
    if (v < -1e7)
        v = -1e7;
    /* integer arithmetic: no locale can turn the decimal mark into ',' */
    long long cents = llround(v * 100.0);
    const char *sign = cents < 0 ? "-" : "";
    long long a = cents < 0 ? -cents : cents;
    if (a % 100 == 0)
        snprintf(buf, 32, "%s%lld", a ? sign : "", a / 100);
    else if (a % 10 == 0)
        snprintf(buf, 32, "%s%lld.%lld", sign, a / 100, (a % 100) / 10);
    else
        snprintf(buf, 32, "%s%lld.%02lld", sign, a / 100, a % 100);
    return buf;
}

char *bs_report_value(char buf[32], double v, int digits)
{
    if (!isfinite(v)) {
        snprintf(buf, 32, "n/a");
        return buf;
    }
    if (digits < 1)
        digits = 1;
    if (digits > 15)
        digits = 15;
    snprintf(buf, 32, "%.*g", digits, v == 0.0 ? 0.0 : v); /* no "-0" */
    for (char *c = buf; *c; c++) /* %g never groups digits, so ',' can only be a decimal mark */
        if (*c == ',')
            *c = '.';
    return buf;
}

char *bs_report_diverging(char buf[8], double t)
{
    if (!isfinite(t)) {
        memcpy(buf, BS_REPORT_NODATA, 8);
        return buf;
    }
    /* blue - white - red, anchors of ColorBrewer's RdBu reversed */
    static const double anchor[5][3] = {
        {33, 102, 172}, {103, 169, 207}, {247, 247, 247}, {239, 138, 98}, {178, 24, 43}};
    if (t < -1.0)
        t = -1.0;
    if (t > 1.0)
        t = 1.0;
    double pos = (t + 1.0) * 2.0; /* 0 .. 4 */
    int k = (int)floor(pos);
    if (k > 3)
        k = 3;
    double f = pos - k;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(anchor[k][c] + f * (anchor[k + 1][c] - anchor[k][c]));
    snprintf(buf, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    return buf;
}

const char *bs_report_palette(int i)
{
    static const char *colours[] = {"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
                                    "#d55e00", "#f0e442", "#000000", "#999999", "#8c564b"};
    int n = (int)(sizeof colours / sizeof colours[0]);
    return colours[((i % n) + n) % n];
}

static const char *css =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;"
    "padding:0 16px}\n"
    "h1{font-size:24px;border-bottom:2px solid #0072b2;padding-bottom:6px}\n"
    "h2{font-size:19px;margin-top:28px;border-bottom:1px solid #ccc}\n"
    "h3{font-size:16px;margin-top:20px}\n"
    "table{border-collapse:collapse;margin:8px 0}\n"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}\n"
    "th{background:#f0f0f0}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "figure{margin:12px 0}\n"
    "figcaption{font-size:12px;color:#555;max-width:900px}\n"
    "svg{background:#fff}\n"
    "svg text{font-size:11px;fill:#222}\n"
    "svg .axis line,svg .axis path{stroke:#444;stroke-width:1}\n"
    "svg .threshold{stroke:#d55e00;stroke-width:1.5;stroke-dasharray:5 3}\n"
    "svg .reference{stroke:#777;stroke-width:1;stroke-dasharray:4 3}\n"
    "svg .series{fill:none;stroke-width:1.5}\n"
    "svg .mark{fill:#d55e00;fill-opacity:0.25}\n"
    "svg .boundary{stroke:#000;stroke-width:1;stroke-opacity:0.6}\n"
    "svg .bar{fill:#0072b2}\n"
    "svg .bar.flagged{fill:#d55e00}\n"
    "svg .bar.unknown{fill-opacity:0.3}\n"
    "svg .mean{stroke:#000;stroke-width:2}\n"
    "p.note{font-size:13px;color:#444}\n"
    "p.warning{font-size:13px;color:#8a3b00;background:#fff3e0;padding:6px;border-left:4px solid #d55e00}\n"
    "nav a{margin-right:12px}\n"
    "details{margin:4px 0}\nsummary{cursor:pointer;font-size:13px}\n"
    "div.panels{display:flex;flex-wrap:wrap;gap:4px 24px}\n"
    "div.panels figure{margin:6px 0}\n";

void bs_report_begin(FILE *fp, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", fp);
    bs_report_text(fp, title);
    fputs("</title>\n<meta name=\"generator\" content=\"brainstage\">\n<style>\n", fp);
    fputs(css, fp);
    fputs("</style>\n</head>\n<body>\n<h1>", fp);
    bs_report_text(fp, title);
    fputs("</h1>\n", fp);
}

void bs_report_end(FILE *fp)
{
    fputs("</body>\n</html>\n", fp);
}

void bs_report_section_begin(FILE *fp, const char *id, const char *title)
{
    fputs("<section id=\"", fp);
    bs_report_text(fp, id);
    fputs("\">\n<h2>", fp);
    bs_report_text(fp, title);
    fputs("</h2>\n", fp);
}

void bs_report_section_end(FILE *fp)
{
    fputs("</section>\n", fp);
}

void bs_report_summary(FILE *fp, const char *id, int n, const char *const *names, const char *const *values)
{
    fputs("<table class=\"summary\" id=\"", fp);
    bs_report_text(fp, id);
    fputs("\">\n", fp);
    for (int i = 0; i < n; i++) {
        fputs("<tr><th>", fp);
        bs_report_text(fp, names[i]);
        fputs("</th><td>", fp);
        bs_report_text(fp, values[i]);
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

void bs_report_note(FILE *fp, int warning, const char *text)
{
    fputs(warning ? "<p class=\"warning\">" : "<p class=\"note\">", fp);
    bs_report_text(fp, text);
    fputs("</p>\n", fp);
}
