/* clean_interpolate.c - fill motion-flagged volumes with a cubic spline.
 *
 * Same interpolant as XCP-D (nilearn's _interpolate_volumes uses
 * scipy.interpolate.CubicSpline, whose default end condition is
 * "not-a-knot"): a cubic spline through the kept volumes, evaluated at the
 * flagged ones.  Flagged volumes before the first or after the last kept
 * volume copy the nearest kept value, as XCP-D does instead of
 * extrapolating.
 *
 * With second derivatives M_i at the knots, the interior continuity
 * equations are tridiagonal; not-a-knot (third derivative continuous at the
 * second and second-to-last knot) expresses M_0 and M_{m-1} through their
 * neighbours, which keeps the system for M_1..M_{m-2} tridiagonal.  It is
 * solved with GSL. */
#include "brainstage/clean.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_vector.h>

/* Evaluate the spline piece on [xa, xb] with values ya, yb and second
 * derivatives ma, mb at t. */
static double spline_piece(double xa, double xb, double ya, double yb, double ma, double mb, double t)
{
    double h = xb - xa, a = xb - t, b = t - xa;
    return ma * a * a * a / (6.0 * h) + mb * b * b * b / (6.0 * h) + (ya / h - ma * h / 6.0) * a +
           (yb / h - mb * h / 6.0) * b;
}

int bs_interpolate_censored(double *x, int64_t n, int64_t stride, const unsigned char *keep,
                            double *work, bs_error *err)
{
    double *xs = work, *ys = work + n, *M = work + 2 * n;
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++)
        if (keep[t]) {
            xs[m] = (double)t;
            ys[m] = x[t * stride];
            m++;
        }
    if (m == n)
        return BS_OK;
    if (m == 0)
        return bs_error_set(err, BS_ERR_DATA, "interpolation: every volume is flagged for censoring");

    for (int64_t i = 0; i < m; i++)
        M[i] = 0.0;
    if (m == 3) {
        /* scipy's not-a-knot with three points is the parabola through them:
         * a constant second derivative 2*(second divided difference). */
        double d01 = (ys[1] - ys[0]) / (xs[1] - xs[0]), d12 = (ys[2] - ys[1]) / (xs[2] - xs[1]);
        double c2 = 2.0 * (d12 - d01) / (xs[2] - xs[0]);
        M[0] = M[1] = M[2] = c2;
    } else if (m >= 4) {
        int64_t k = m - 2; /* unknowns M_1..M_{m-2} */
        double *diag = work + 3 * n, *above = work + 4 * n, *below = work + 5 * n, *rhs = work + 6 * n,
               *sol = work + 7 * n;
        for (int64_t i = 1; i <= m - 2; i++) {
            double h0 = xs[i] - xs[i - 1], h1 = xs[i + 1] - xs[i];
            diag[i - 1] = 2.0 * (h0 + h1);
            if (i - 1 > 0)
                below[i - 2] = h0;
            if (i - 1 < k - 1)
                above[i - 1] = h1;
            rhs[i - 1] = 6.0 * ((ys[i + 1] - ys[i]) / h1 - (ys[i] - ys[i - 1]) / h0);
        }
        /* First row: M_0 = M_1 (1 + h0/h1) - (h0/h1) M_2. */
        double h0 = xs[1] - xs[0], h1 = xs[2] - xs[1];
        diag[0] += h0 * (1.0 + h0 / h1);
        above[0] -= h0 * h0 / h1; /* k >= 2 because m >= 4 */
        /* Last row: M_{m-1} = M_{m-2} (1 + g1/g0) - (g1/g0) M_{m-3}. */
        double g0 = xs[m - 2] - xs[m - 3], g1 = xs[m - 1] - xs[m - 2];
        diag[k - 1] += g1 * (1.0 + g1 / g0);
        below[k - 2] -= g1 * g1 / g0;
        gsl_vector_view vd = gsl_vector_view_array(diag, (size_t)k);
        gsl_vector_view va = gsl_vector_view_array(above, (size_t)(k - 1));
        gsl_vector_view vb = gsl_vector_view_array(below, (size_t)(k - 1));
        gsl_vector_view vr = gsl_vector_view_array(rhs, (size_t)k);
        gsl_vector_view vs = gsl_vector_view_array(sol, (size_t)k);
        /* The caller has GSL's abort-on-error handler switched off. */
        int rc = gsl_linalg_solve_tridiag(&vd.vector, &va.vector, &vb.vector, &vr.vector, &vs.vector);
        if (rc != GSL_SUCCESS)
            return bs_error_set(err, BS_ERR_NUMERIC, "interpolation: spline system not solvable (%s)",
                                gsl_strerror(rc));
        for (int64_t i = 0; i < k; i++)
            M[i + 1] = sol[i];
        M[0] = M[1] * (1.0 + h0 / h1) - (h0 / h1) * M[2];
        M[m - 1] = M[m - 2] * (1.0 + g1 / g0) - (g1 / g0) * M[m - 3];
    }
    /* m == 2: M stays 0, i.e. the straight line scipy uses for two points. */

    int64_t seg = 0;
    for (int64_t t = 0; t < n; t++) {
        if (keep[t])
            continue;
        double tt = (double)t;
        if (tt < xs[0]) {
            x[t * stride] = ys[0];
        } else if (tt > xs[m - 1]) {
            x[t * stride] = ys[m - 1];
        } else {
            while (seg + 1 < m - 1 && xs[seg + 1] < tt)
                seg++;
            x[t * stride] = spline_piece(xs[seg], xs[seg + 1], ys[seg], ys[seg + 1], M[seg], M[seg + 1], tt);
        }
    }
    return BS_OK;
}
