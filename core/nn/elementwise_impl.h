/* nn/elementwise_impl.h - adds, broadcasts, softmax and log_softmax;
 * type-generic body (instantiated by elementwise.c; see real_begin.h). */
#include "nn/real_begin.h"

void FN(nn_add_forward)(real *y, const real *a, const real *b, size_t n)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void FN(nn_add_backward)(real *da, real *db, const real *dy, size_t n)
{
    if (da)
        FN(nn_accumulate)(da, dy, n);
    if (db)
        FN(nn_accumulate)(db, dy, n);
}

void FN(nn_accumulate)(real *dst, const real *src, size_t n)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void FN(nn_add_bcast_forward)(real *y, const real *x, const real *row, int B, size_t n)
{
#pragma omp parallel for schedule(static) if ((size_t)B * n > NN_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < n; i++)
            y[(size_t)b * n + i] = x[(size_t)b * n + i] + row[i];
}

void FN(nn_add_bcast_backward)(real *dx, real *drow, const real *dy, int B, size_t n)
{
    if (dx)
        FN(nn_accumulate)(dx, dy, (size_t)B * n);
    if (drow) {
        /* Each element sums over b in order: independent of threads. */
#pragma omp parallel for schedule(static) if ((size_t)B * n > NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                s += dy[(size_t)b * n + i];
            drow[i] += (real)s;
        }
    }
}

void FN(nn_softmax_forward)(real *y, const real *x, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * C;
        real *yr = y + (size_t)n * C;
        real mx = xr[0];
        for (int c = 1; c < C; c++)
            mx = xr[c] > mx ? xr[c] : mx;
        double s = 0;
        for (int c = 0; c < C; c++) {
            yr[c] = R_EXP(xr[c] - mx);
            s += yr[c];
        }
        real inv = (real)(1.0 / s);
        for (int c = 0; c < C; c++)
            yr[c] *= inv;
    }
}

void FN(nn_softmax_backward)(real *dx, const real *dy, const real *y, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *yr = y + (size_t)n * C, *g = dy + (size_t)n * C;
        real *dxr = dx + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += (double)g[c] * yr[c];
        real sr = (real)s;
        for (int c = 0; c < C; c++)
            dxr[c] += yr[c] * (g[c] - sr);
    }
}

void FN(nn_log_softmax_forward)(real *y, const real *x, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * C;
        real *yr = y + (size_t)n * C;
        real mx = xr[0];
        for (int c = 1; c < C; c++)
            mx = xr[c] > mx ? xr[c] : mx;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += R_EXP(xr[c] - mx);
        real lse = mx + (real)log(s);
        for (int c = 0; c < C; c++)
            yr[c] = xr[c] - lse;
    }
}

void FN(nn_log_softmax_backward)(real *dx, const real *dy, const real *y, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *yr = y + (size_t)n * C, *g = dy + (size_t)n * C;
        real *dxr = dx + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += g[c];
        real sr = (real)s;
        for (int c = 0; c < C; c++)
            dxr[c] += g[c] - R_EXP(yr[c]) * sr;
    }
}

#include "nn/real_end.h"
