/* tsv.c - reading and writing tab-separated tables (BIDS / fMRIPrep). */
#include "brainstage/tsv.h"
#include "brainstage/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bs_tsv_free(bs_tsv *t)
{
    if (!t)
        return;
    if (t->header)
        for (int c = 0; c < t->n_cols; c++)
            free(t->header[c]);
    free(t->header);
    if (t->cells)
        for (int64_t i = 0; i < t->n_rows * t->n_cols; i++)
            free(t->cells[i]);
    free(t->cells);
    free(t->path);
    free(t);
}

/* Splits line in place on tabs; returns the field count (fields[] up to max). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *s = line;
    for (;;) {
        char *tab = strchr(s, '\t');
        if (n < max)
            fields[n] = s;
        n++;
        if (!tab)
            break;
        *tab = '\0';
        s = tab + 1;
    }
    return n;
}

static void chomp(char *line)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
}

static int count_tabs(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\t';
    return n;
}

bs_tsv *bs_tsv_read(const char *path, bs_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    bs_tsv *t = calloc(1, sizeof *t);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t cells_cap = 0;
    char **fields = NULL;
    if (!t || !(t->path = strdup(path)))
        goto nomem;
    len = getline(&line, &cap, fp);
    if (len <= 0) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: empty file, expected a header row", path);
        goto fail;
    }
    chomp(line);
    t->n_cols = count_tabs(line) + 1;
    t->header = calloc((size_t)t->n_cols, sizeof *t->header);
    fields = calloc((size_t)t->n_cols, sizeof *fields);
    if (!t->header || !fields)
        goto nomem;
    split_tabs(line, fields, t->n_cols);
    for (int c = 0; c < t->n_cols; c++) {
        if (!(t->header[c] = strdup(fields[c])))
            goto nomem;
        if (!*fields[c]) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: row 1: column %d has an empty name", path, c + 1);
            goto fail;
        }
    }
    int64_t row = 1;
    while ((len = getline(&line, &cap, fp)) > 0) {
        row++;
        if ((size_t)len != strlen(line)) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld: contains a NUL byte", path, (long long)row);
            goto fail;
        }
        chomp(line);
        if (!*line && feof(fp))
            break;
        if (!*line) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld: empty line inside the table", path, (long long)row);
            goto fail;
        }
        int n = count_tabs(line) + 1;
        if (n != t->n_cols) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld: expected %d tab-separated columns, found %d",
                         path, (long long)row, t->n_cols, n);
            goto fail;
        }
        split_tabs(line, fields, t->n_cols);
        if ((t->n_rows + 1) * t->n_cols > cells_cap) {
            int64_t new_cap = cells_cap ? cells_cap * 2 : 64 * (int64_t)t->n_cols;
            char **c = realloc(t->cells, (size_t)new_cap * sizeof *c);
            if (!c)
                goto nomem;
            t->cells = c;
            cells_cap = new_cap;
        }
        for (int c = 0; c < t->n_cols; c++) {
            char *v = strdup(fields[c]);
            if (!v)
                goto nomem;
            t->cells[t->n_rows * t->n_cols + c] = v;
        }
        t->n_rows++;
    }
    if (ferror(fp)) {
        bs_error_set(err, BS_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    free(line);
    free(fields);
    fclose(fp);
    return t;
nomem:
    bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory reading table", path);
fail:
    free(line);
    free(fields);
    fclose(fp);
    bs_tsv_free(t);
    return NULL;
}

int bs_tsv_column(const bs_tsv *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->header[c], name) == 0)
            return c;
    return -1;
}

const char *bs_tsv_cell(const bs_tsv *t, int64_t row, int col)
{
    if (row < 0 || row >= t->n_rows || col < 0 || col >= t->n_cols)
        return NULL;
    return t->cells[row * t->n_cols + col];
}

int bs_tsv_column_double(const bs_tsv *t, const char *name, double *out, bs_error *err)
{
    int col = bs_tsv_column(t, name);
    if (col < 0)
        return bs_error_set(err, BS_ERR_DATA, "%s: no column named '%s'", t->path, name);
    for (int64_t r = 0; r < t->n_rows; r++) {
        const char *s = t->cells[r * t->n_cols + col];
        if (!*s || strcmp(s, "n/a") == 0) {
            out[r] = NAN;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno == ERANGE)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: row %lld, column '%s': expected a number or n/a, found '%.40s'",
                                t->path, (long long)r + 2, name, s);
        out[r] = v;
    }
    return BS_OK;
}

int bs_tsv_write_matrix(const char *path, int64_t n_rows, int n_cols, const float *values,
                        const char *const *col_names, const char *row_header,
                        const char *const *row_names, bs_error *err)
{
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    if (rc)
        return rc;
    if (row_names)
        fprintf(f.fp, "%s\t", row_header ? row_header : "");
    for (int c = 0; c < n_cols; c++)
        fprintf(f.fp, "%s%s", col_names[c], c + 1 < n_cols ? "\t" : "\n");
    for (int64_t r = 0; r < n_rows; r++) {
        if (row_names)
            fprintf(f.fp, "%s\t", row_names[r]);
        for (int c = 0; c < n_cols; c++) {
            float v = values[r * n_cols + c];
            if (isnan(v))
                fputs("n/a", f.fp);
            else
                fprintf(f.fp, "%.9g", (double)v);
            fputc(c + 1 < n_cols ? '\t' : '\n', f.fp);
        }
    }
    return bs_atomic_commit(&f, err);
}
