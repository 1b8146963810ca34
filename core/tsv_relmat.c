/* tsv_relmat.c - reading connectivity matrices in XCP-D's relmat layout
 * (BEP017-style *_relmat.tsv): a header "Node<TAB>name1<TAB>...", then one
 * row per node starting with its name, "n/a" for undefined entries.  The
 * same layout brainstage's tsv sink writes for a matrix. */
#include "brainstage/tsv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bs_relmat_free(bs_relmat *m)
{
    if (!m)
        return;
    if (m->nodes)
        for (int i = 0; i < m->n; i++)
            free(m->nodes[i]);
    free(m->nodes);
    free(m->values);
    free(m->path);
    free(m);
}

/* Checks the layout and copies the node names; BS_OK or an error. */
static int read_nodes(const bs_tsv *t, bs_relmat *m, bs_error *err)
{
    if (strcmp(t->header[0], "Node") != 0)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: row 1: the first column is '%s', expected 'Node' (an XCP-D "
                            "relmat: node names in the first column and the header)", t->path, t->header[0]);
    int n = t->n_cols - 1;
    if (n < 2 || t->n_rows != n)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: expected a square matrix with at least 2 nodes, found %lld rows "
                            "x %d node columns", t->path, (long long)t->n_rows, n);
    m->n = n;
    m->nodes = calloc((size_t)n, sizeof *m->nodes);
    if (!m->nodes)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", t->path);
    for (int i = 0; i < n; i++) {
        const char *row = bs_tsv_cell(t, i, 0);
        if (strcmp(row, t->header[i + 1]) != 0)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: row %d: node '%.60s', but column %d is '%.60s' (rows and "
                                "columns must list the nodes in the same order)", t->path, i + 2, row, i + 2,
                                t->header[i + 1]);
        if (!(m->nodes[i] = strdup(row)))
            return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", t->path);
    }
    return BS_OK;
}

/* A relmat is symmetric; anything else is not a connectivity matrix. */
static int check_symmetric(const bs_relmat *m, bs_error *err)
{
    for (int i = 0; i < m->n; i++)
        for (int j = i + 1; j < m->n; j++) {
            float a = m->values[(size_t)i * m->n + j], b = m->values[(size_t)j * m->n + i];
            int same = (isnan(a) && isnan(b)) ||
                       fabsf(a - b) <= 1e-6f + 1e-6f * fmaxf(fabsf(a), fabsf(b));
            if (!same)
                return bs_error_set(err, BS_ERR_FORMAT, "%s: not symmetric: ('%s', '%s') is %g but ('%s', '%s') is %g",
                                    m->path, m->nodes[i], m->nodes[j], (double)a, m->nodes[j], m->nodes[i], (double)b);
        }
    return BS_OK;
}

bs_relmat *bs_relmat_read(const char *path, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return NULL;
    bs_relmat *m = calloc(1, sizeof *m);
    double *col = NULL;
    int rc = m && (m->path = strdup(path)) ? read_nodes(t, m, err) : bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    if (rc == BS_OK) {
        m->values = malloc((size_t)m->n * (size_t)m->n * sizeof *m->values);
        col = malloc((size_t)m->n * sizeof *col);
        if (!m->values || !col)
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %d nodes", path, m->n);
    }
    for (int j = 0; rc == BS_OK && j < m->n; j++) {
        if ((rc = bs_tsv_column_double(t, t->header[j + 1], col, err)))
            break;
        for (int i = 0; i < m->n; i++) {
            if (isinf(col[i])) {
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: row %d, column '%s': expected a finite number or n/a",
                                  path, i + 2, t->header[j + 1]);
                break;
            }
            m->values[(size_t)i * m->n + j] = (float)col[i];
        }
    }
    if (rc == BS_OK)
        rc = check_symmetric(m, err);
    free(col);
    bs_tsv_free(t);
    if (rc) {
        bs_relmat_free(m);
        return NULL;
    }
    return m;
}
