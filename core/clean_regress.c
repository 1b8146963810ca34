/* clean_regress.c - least-squares residuals through GSL's SVD.
 *
 * The columns of A are scaled to unit norm on the fitted rows (the column
 * space, hence the residuals, is unchanged, and motion-squared columns of
 * 1e-6 sit next to global signal of 1e3 without hurting the conditioning).
 * Singular values below eps * max(m, q) * s_max are dropped, numpy's default
 * lstsq cut-off, so a rank-deficient confound set gives the same residuals
 * as numpy.linalg.lstsq.  BLAS goes through GSL's interface (which resolves
 * to OpenBLAS at link time). */
#include "brainstage/clean.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

int bs_regress_out(const double *A, int64_t n, int q, const unsigned char *fit, double *Y, int64_t r,
                   bs_error *err)
{
    if (q == 0 || r == 0)
        return BS_OK;
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++)
        m += fit ? fit[t] != 0 : 1;
    if (m < q)
        return bs_error_set(err, BS_ERR_DATA, "regression: %lld volumes for %d regressors", (long long)m, q);

    /* Column-major Y (n x r) is the row-major matrix Y^T (r x n); likewise
     * the scaled regressors As^T (q x n).  Everything below works on these
     * transposed views, so no element-wise copies are needed when all rows
     * are fitted. */
    int rc = BS_OK;
    gsl_matrix *U = gsl_matrix_alloc((size_t)m, (size_t)q);
    gsl_matrix *V = gsl_matrix_alloc((size_t)q, (size_t)q);
    gsl_vector *S = gsl_vector_alloc((size_t)q), *work = gsl_vector_alloc((size_t)q);
    gsl_matrix *Wt = gsl_matrix_alloc((size_t)r, (size_t)q);
    gsl_matrix *betaT = gsl_matrix_alloc((size_t)r, (size_t)q);
    double *As = malloc((size_t)n * (size_t)q * sizeof(double));
    double *Yg = fit ? malloc((size_t)m * (size_t)r * sizeof(double)) : NULL;
    if (!U || !V || !S || !work || !Wt || !betaT || !As || (fit && !Yg)) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "regression: out of memory (%lld x %d)", (long long)n, q);
        goto done;
    }
    for (int j = 0; j < q; j++) {
        const double *a = A + (int64_t)j * n;
        double ss = 0.0;
        for (int64_t t = 0; t < n; t++)
            if (!fit || fit[t])
                ss += a[t] * a[t];
        double scale = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
        for (int64_t t = 0; t < n; t++)
            As[(int64_t)j * n + t] = a[t] * scale;
    }
    for (int64_t t = 0, i = 0; t < n; t++) {
        if (fit && !fit[t])
            continue;
        double *urow = U->data + i * U->tda;
        for (int j = 0; j < q; j++)
            urow[j] = As[(int64_t)j * n + t];
        i++;
    }
    if (fit)
        for (int64_t c = 0; c < r; c++) {
            const double *y = Y + c * n;
            double *g = Yg + c * m;
            for (int64_t t = 0, i = 0; t < n; t++)
                if (fit[t])
                    g[i++] = y[t];
        }
    int g = gsl_linalg_SV_decomp(U, V, S, work);
    if (g != GSL_SUCCESS) {
        rc = bs_error_set(err, BS_ERR_NUMERIC, "regression: SVD failed (%s)", gsl_strerror(g));
        goto done;
    }
    gsl_matrix_view Yfit = gsl_matrix_view_array(fit ? Yg : Y, (size_t)r, (size_t)m);
    gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, &Yfit.matrix, U, 0.0, Wt); /* (U^T Yf)^T */
    double smax = gsl_vector_get(S, 0);
    double tol = DBL_EPSILON * (double)(m > q ? m : q) * smax;
    for (int j = 0; j < q; j++) {
        double s = gsl_vector_get(S, (size_t)j);
        gsl_vector_view col = gsl_matrix_column(Wt, (size_t)j);
        gsl_vector_scale(&col.vector, (s > tol && s > 0.0) ? 1.0 / s : 0.0);
    }
    gsl_blas_dgemm(CblasNoTrans, CblasTrans, 1.0, Wt, V, 0.0, betaT); /* (V S^+ U^T Yf)^T */
    gsl_matrix_view Yt = gsl_matrix_view_array(Y, (size_t)r, (size_t)n);
    gsl_matrix_view At = gsl_matrix_view_array(As, (size_t)q, (size_t)n);
    gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, -1.0, betaT, &At.matrix, 1.0, &Yt.matrix); /* Y^T -= beta^T As^T */
done:
    gsl_matrix_free(U);
    gsl_matrix_free(V);
    gsl_vector_free(S);
    gsl_vector_free(work);
    gsl_matrix_free(Wt);
    gsl_matrix_free(betaT);
    free(As);
    free(Yg);
    return rc;
}
