/* brainstage/tsv.h - tab-separated tables as BIDS and fMRIPrep write them.
 *
 * Reading keeps every cell as a string; numeric accessors parse on demand
 * and map "n/a" (and empty cells) to NaN.  Errors name the file, the row
 * (1-based, header = row 1) and the column. */
#ifndef BRAINSTAGE_TSV_H
#define BRAINSTAGE_TSV_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_tsv {
    char *path;
    int n_cols;
    int64_t n_rows;       /* data rows, header excluded */
    char **header;        /* n_cols names */
    char **cells;         /* n_rows * n_cols, row-major */
} bs_tsv;

bs_tsv *bs_tsv_read(const char *path, bs_error *err);
void bs_tsv_free(bs_tsv *t);
/* Column index or -1. */
int bs_tsv_column(const bs_tsv *t, const char *name);
const char *bs_tsv_cell(const bs_tsv *t, int64_t row, int col);
/* Parses column `name` into out[n_rows] (n/a -> NaN). */
int bs_tsv_column_double(const bs_tsv *t, const char *name, double *out, bs_error *err);

/* Writes a numeric table atomically: header line of col_names, then rows;
 * NaN is written as "n/a".  With row_names, a first column row_header holds
 * them (e.g. XCP-D's "Node" column of relmat files).  Values are written with
 * 9 significant digits (float32 round-trips). */
int bs_tsv_write_matrix(const char *path, int64_t n_rows, int n_cols, const float *values,
                        const char *const *col_names, const char *row_header,
                        const char *const *row_names, bs_error *err);

/* A connectivity matrix in XCP-D's relmat layout (core/tsv_relmat.c):
 * header "Node" + node names, one row per node led by its name (same order
 * as the columns), numbers or "n/a" (-> NaN), symmetric.  This is what
 * XCP-D writes for *_stat-pearsoncorrelation_relmat.tsv and what the tsv
 * sink writes for a matrix.  Errors name the file, row and column. */
typedef struct bs_relmat {
    char *path;
    int n;            /* nodes */
    char **nodes;     /* n names */
    float *values;    /* n x n, row-major; NaN where the file says n/a */
} bs_relmat;

bs_relmat *bs_relmat_read(const char *path, bs_error *err);
void bs_relmat_free(bs_relmat *m);

#ifdef __cplusplus
}
#endif
#endif
