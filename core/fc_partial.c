/* fc_partial.c - partial correlation from a Pearson matrix (GSL Cholesky).
 *
 * P = (C + ridge I)^-1 is formed from the Cholesky factor of C + ridge I;
 * partial r_ij = -P_ij / sqrt(P_ii P_jj).  The ridge regularises the
 * precision when volumes are few relative to ROIs; ridge 0 gives the plain
 * inverse (and an error when C is singular). */
#include "brainstage/fc.h"

#include <math.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>

/* Partial correlations of the p x p Pearson matrix C (upper triangle
 * valid) in place: P = (C + ridge I)^-1 via Cholesky. */
int bs_fc_partial_from_corr(float *C, int64_t p, double ridge, bs_error *err)
{
    gsl_set_error_handler_off(); /* the library reports, it never aborts */
    gsl_matrix *A = gsl_matrix_alloc((size_t)p, (size_t)p);
    if (!A)
        return bs_error_set(err, BS_ERR_NOMEM, "fc: out of memory for a %lld x %lld matrix", (long long)p,
                            (long long)p);
    for (int64_t i = 0; i < p; i++) {
        gsl_matrix_set(A, (size_t)i, (size_t)i, 1.0 + ridge);
        for (int64_t j = i + 1; j < p; j++) {
            gsl_matrix_set(A, (size_t)i, (size_t)j, C[i * p + j]);
            gsl_matrix_set(A, (size_t)j, (size_t)i, C[i * p + j]);
        }
    }
    int rc = gsl_linalg_cholesky_decomp1(A);
    if (rc == GSL_SUCCESS)
        rc = gsl_linalg_cholesky_invert(A);
    if (rc != GSL_SUCCESS) {
        gsl_matrix_free(A);
        return bs_error_set(err, BS_ERR_NUMERIC,
                            "fc: partial correlation: the correlation matrix of %lld ROIs is not positive definite with ridge %g (fewer volumes than ROIs?); increase ridge",
                            (long long)p, ridge);
    }
    for (int64_t i = 0; i < p; i++) {
        C[i * p + i] = 1.0f;
        double pii = gsl_matrix_get(A, (size_t)i, (size_t)i);
        for (int64_t j = i + 1; j < p; j++) {
            double pjj = gsl_matrix_get(A, (size_t)j, (size_t)j);
            C[i * p + j] = (float)(-gsl_matrix_get(A, (size_t)i, (size_t)j) / sqrt(pii * pjj));
        }
    }
    gsl_matrix_free(A);
    return BS_OK;
}

