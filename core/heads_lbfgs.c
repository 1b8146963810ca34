/* heads_lbfgs.c - limited-memory BFGS minimiser for smooth convex losses.
 *
 * Two-loop recursion (Nocedal & Wright, alg. 7.4) with a weak-Wolfe line
 * search by bisection/doubling (Lewis & Overton), which guarantees s'y > 0
 * so the curvature pairs stay positive definite.  Deterministic. */
#include "brainstage/heads_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

int bs_lbfgs_minimize(int64_t nx, double *x, bs_lbfgs_fn fn, void *ctx, int max_iter, double gtol,
                      int m, bs_lbfgs_report *rep, bs_error *err)
{
    if (m < 1)
        m = 10;
    size_t n = (size_t)nx;
    double *buf = calloc(n * (size_t)(2 * m + 4), sizeof(double));
    double *rho = calloc((size_t)m, sizeof(double));
    double *alpha = calloc((size_t)m, sizeof(double));
    if (!buf || !rho || !alpha) {
        free(buf);
        free(rho);
        free(alpha);
        return bs_error_set(err, BS_ERR_NOMEM, "lbfgs: out of memory for %lld parameters", (long long)nx);
    }
    double *S = buf, *Y = buf + n * (size_t)m;
    double *g = buf + 2 * n * (size_t)m, *d = g + n, *xn = d + n, *gn = xn + n;

    memset(rep, 0, sizeof *rep);
    double f = fn(x, g, ctx);
    if (!isfinite(f)) {
        free(buf);
        free(rho);
        free(alpha);
        return bs_error_set(err, BS_ERR_NUMERIC, "lbfgs: objective is not finite at the start");
    }
    int stored = 0, head = 0; /* ring buffer of curvature pairs */
    int it = 0;
    double gmax = max_abs(g, nx);
    while (gmax > gtol && it < max_iter) {
        /* Two-loop recursion: d = -H g. */
        for (size_t i = 0; i < n; i++)
            d[i] = -g[i];
        for (int k = 0; k < stored; k++) {
            int j = (head - 1 - k + m) % m;
            alpha[j] = rho[j] * dot(S + (size_t)j * n, d, nx);
            for (size_t i = 0; i < n; i++)
                d[i] -= alpha[j] * Y[(size_t)j * n + i];
        }
        if (stored > 0) {
            int j = (head - 1 + m) % m;
            double gamma = dot(S + (size_t)j * n, Y + (size_t)j * n, nx) /
                           dot(Y + (size_t)j * n, Y + (size_t)j * n, nx);
            for (size_t i = 0; i < n; i++)
                d[i] *= gamma;
        } else {
            /* First step: unit length along the steepest descent. */
            double gn2 = sqrt(dot(g, g, nx));
            for (size_t i = 0; i < n; i++)
                d[i] /= gn2;
        }
        for (int k = stored - 1; k >= 0; k--) {
            int j = (head - 1 - k + m) % m;
            double b = rho[j] * dot(Y + (size_t)j * n, d, nx);
            for (size_t i = 0; i < n; i++)
                d[i] += S[(size_t)j * n + i] * (alpha[j] - b);
        }
        double gd = dot(g, d, nx);
        if (!(gd < 0)) { /* lost descent (round-off): restart from steepest descent */
            for (size_t i = 0; i < n; i++)
                d[i] = -g[i];
            gd = -dot(g, g, nx);
            stored = 0;
        }

        /* Weak Wolfe line search. */
        const double c1 = 1e-4, c2 = 0.9;
        double lo = 0, hi = INFINITY, t = 1.0, fn_new = f;
        int accepted = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (size_t i = 0; i < n; i++)
                xn[i] = x[i] + t * d[i];
            fn_new = fn(xn, gn, ctx);
            if (!isfinite(fn_new) || fn_new > f + c1 * t * gd) {
                hi = t;
            } else if (dot(gn, d, nx) < c2 * gd) {
                lo = t;
            } else {
                accepted = 1;
                break;
            }
            t = isinf(hi) ? 2 * t : 0.5 * (lo + hi);
        }
        if (!accepted) {
            /* No acceptable step: at the optimum within round-off. Keep the
             * best sufficient-decrease point if the search found one. */
            if (lo > 0) {
                for (size_t i = 0; i < n; i++)
                    xn[i] = x[i] + lo * d[i];
                fn_new = fn(xn, gn, ctx);
                if (fn_new <= f) {
                    memcpy(x, xn, n * sizeof(double));
                    memcpy(g, gn, n * sizeof(double));
                    f = fn_new;
                }
            }
            it++;
            break;
        }
        /* Curvature pair. */
        double *s = S + (size_t)head * n, *yv = Y + (size_t)head * n;
        for (size_t i = 0; i < n; i++) {
            s[i] = xn[i] - x[i];
            yv[i] = gn[i] - g[i];
        }
        double sy = dot(s, yv, nx);
        if (sy > 1e-300) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % m;
            if (stored < m)
                stored++;
        }
        double df = f - fn_new;
        memcpy(x, xn, n * sizeof(double));
        memcpy(g, gn, n * sizeof(double));
        f = fn_new;
        gmax = max_abs(g, nx);
        it++;
        if (!(df > 0))
            break; /* no progress possible within round-off */
    }
    gmax = max_abs(g, nx);
    rep->iterations = it;
    rep->converged = gmax <= gtol;
    rep->f = f;
    rep->gmax = gmax;
    free(buf);
    free(rho);
    free(alpha);
    return BS_OK;
}
