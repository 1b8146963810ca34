/* heads_ridge.c - ridge regression with an unpenalised intercept.
 *
 * min_w |y - ybar - Xc w|^2 + alpha |w|^2 with Xc the column-centred
 * features; b = ybar - mean(X) w.  Solved by Cholesky of the smaller of
 * the two Gram matrices: (Xc'Xc + alpha I) w = Xc'yc when d <= n, else
 * w = Xc' (Xc Xc' + alpha I)^-1 yc (same solution, n x n system). */
#include "brainstage/heads_internal.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int bs_head_fit_ridge(bs_head *h, const bs_head_params *p, double *Xs, int64_t n,
                      const double *target, bs_error *err)
{
    int64_t d = h->d;
    if (!(p->alpha > 0))
        return bs_error_set(err, BS_ERR_USAGE, "head ridge: alpha must be > 0, got %g", p->alpha);
    h->n_out = 1;
    h->n_classes = 0;
    int64_t m = d <= n ? d : n;
    double *xm = calloc((size_t)d, sizeof(double));
    double *Xc = Xs; /* centred in place: Xs is the caller's scratch copy */
    double *yc = malloc(sizeof(double) * (size_t)n);
    double *G = malloc(sizeof(double) * (size_t)(m * m));
    double *rhs = malloc(sizeof(double) * (size_t)m);
    h->weight = calloc((size_t)d, sizeof(double));
    h->bias = calloc(1, sizeof(double));
    int rc = BS_OK;
    if (!xm || !yc || !G || !rhs || !h->weight || !h->bias) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "head ridge: out of memory for a %lld x %lld system",
                          (long long)m, (long long)m);
        goto done;
    }
    double ybar = 0;
    for (int64_t i = 0; i < n; i++) {
        ybar += target[i];
        for (int64_t j = 0; j < d; j++)
            xm[j] += Xs[i * d + j];
    }
    ybar /= (double)n;
    for (int64_t j = 0; j < d; j++)
        xm[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        yc[i] = target[i] - ybar;
        for (int64_t j = 0; j < d; j++)
            Xc[i * d + j] -= xm[j];
    }
    /* GSL's BLAS wrappers (OpenBLAS underneath): cblas.h and GSL's own
     * CBLAS declarations cannot share one translation unit. */
    gsl_matrix_view Xv = gsl_matrix_view_array(Xc, (size_t)n, (size_t)d);
    gsl_vector_view yv = gsl_vector_view_array(yc, (size_t)n);
    gsl_matrix_view Gm = gsl_matrix_view_array(G, (size_t)m, (size_t)m);
    gsl_vector_view rv = gsl_vector_view_array(rhs, (size_t)m);
    if (d <= n) {
        gsl_blas_dsyrk(CblasUpper, CblasTrans, 1.0, &Xv.matrix, 0.0, &Gm.matrix);
        gsl_blas_dgemv(CblasTrans, 1.0, &Xv.matrix, &yv.vector, 0.0, &rv.vector);
    } else {
        gsl_blas_dsyrk(CblasUpper, CblasNoTrans, 1.0, &Xv.matrix, 0.0, &Gm.matrix);
        memcpy(rhs, yc, sizeof(double) * (size_t)n);
    }
    for (int64_t i = 0; i < m; i++) {
        G[i * m + i] += p->alpha;
        for (int64_t j = 0; j < i; j++)
            G[i * m + j] = G[j * m + i]; /* mirror the upper triangle */
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int gs = gsl_linalg_cholesky_decomp1(&Gm.matrix);
    if (gs == 0)
        gs = gsl_linalg_cholesky_svx(&Gm.matrix, &rv.vector);
    gsl_set_error_handler(old);
    if (gs != 0) {
        rc = bs_error_set(err, BS_ERR_NUMERIC, "head ridge: Cholesky failed (%s); increase alpha",
                          gsl_strerror(gs));
        goto done;
    }
    if (d <= n)
        memcpy(h->weight, rhs, sizeof(double) * (size_t)d);
    else
    {
        gsl_vector_view wv = gsl_vector_view_array(h->weight, (size_t)d);
        gsl_blas_dgemv(CblasTrans, 1.0, &Xv.matrix, &rv.vector, 0.0, &wv.vector);
    }
    double b = ybar;
    for (int64_t j = 0; j < d; j++)
        b -= xm[j] * h->weight[j];
    h->bias[0] = b;
    h->converged = 1;
done:
    free(xm);
    free(yc);
    free(G);
    free(rhs);
    return rc;
}
