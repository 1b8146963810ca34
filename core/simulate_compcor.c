/* simulate_compcor.c - anatomical CompCor components for the simulated
 * confounds table: the leading left singular vectors of the (mean- and
 * linear-trend-removed) white-matter + CSF voxel time series, as fMRIPrep's
 * a_comp_cor_XX.  Computed from the T x T Gram matrix (T is small) with
 * GSL's symmetric eigensolver; signs are fixed so the largest-magnitude
 * entry of each component is positive (deterministic output). */
#include "brainstage/simulate_internal.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>

#include "brainstage/clean.h"

int bs_sim_compcor(double *vox, int64_t T, int64_t n_vox, int n_comp, double *out, bs_error *err)
{
    gsl_set_error_handler_off();
    if (n_vox < 1 || T < 3)
        return bs_error_set(err, BS_ERR_DATA, "simulate: compcor needs white-matter/CSF voxels and >= 3 volumes");
    /* Column-major T x n_vox: each voxel's series is contiguous. */
    double *P = malloc((size_t)T * 2 * sizeof(double));
    if (!P)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    for (int64_t t = 0; t < T; t++) {
        P[t] = 1.0;
        P[T + t] = (double)t;
    }
    int rc = bs_regress_out(P, T, 2, NULL, vox, n_vox, err);
    free(P);
    if (rc)
        return rc;
    gsl_matrix_view V = gsl_matrix_view_array(vox, (size_t)n_vox, (size_t)T); /* row v = voxel v */
    gsl_matrix *G = gsl_matrix_alloc((size_t)T, (size_t)T);
    gsl_vector *eval = gsl_vector_alloc((size_t)T);
    gsl_matrix *evec = gsl_matrix_alloc((size_t)T, (size_t)T);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)T);
    if (!G || !eval || !evec || !ws) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, &V.matrix, &V.matrix, 0.0, G); /* T x T */
    if (gsl_eigen_symmv(G, eval, evec, ws) != GSL_SUCCESS) {
        rc = bs_error_set(err, BS_ERR_NUMERIC, "simulate: compcor eigendecomposition failed");
        goto done;
    }
    gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
    for (int k = 0; k < n_comp; k++) {
        double big = 0.0;
        for (int64_t t = 0; t < T; t++) {
            double e = k < T ? gsl_matrix_get(evec, (size_t)t, (size_t)k) : 0.0;
            if (fabs(e) > fabs(big))
                big = e;
        }
        double sign = big < 0 ? -1.0 : 1.0;
        for (int64_t t = 0; t < T; t++)
            out[t * n_comp + k] = k < T ? sign * gsl_matrix_get(evec, (size_t)t, (size_t)k) : 0.0;
    }
done:
    gsl_matrix_free(G);
    gsl_vector_free(eval);
    gsl_matrix_free(evec);
    if (ws)
        gsl_eigen_symmv_free(ws);
    return rc;
}
