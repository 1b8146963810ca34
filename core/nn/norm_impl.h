/* nn/norm_impl.h - LayerNorm and BatchNorm1d, type-generic body
 * (instantiated by norm.c; see real_begin.h). */
#include "nn/real_begin.h"

/* LayerNorm of rows [n0, n1) with optional residual sum s = x + res first
 * (then normalised in its place).  Statistics in double, lanes in parallel. */
NN_HOT static void FN(ln_rows)(real *y, real *s, real *mean, real *rstd, const real *x, const real *res,
                               const real *w, const real *b, int n0, int n1, int C, float eps)
{
    for (int n = n0; n < n1; n++) {
        const real *xr = x + (size_t)n * C;
        real *yr = y + (size_t)n * C;
        if (res) {
            real *sr = s + (size_t)n * C;
            const real *rr = res + (size_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
                sr[c] = xr[c] + rr[c];
            xr = sr;
        }
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < C; c++)
            sum += xr[c];
        double m = sum / C, v = 0;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) {
            double d = xr[c] - m;
            v += d * d;
        }
        v /= C; /* biased variance, like PyTorch */
        real mr = (real)m, rs = (real)(1.0 / sqrt(v + (double)eps));
        if (w && b) {
#pragma omp simd
            for (int c = 0; c < C; c++)
                yr[c] = (xr[c] - mr) * rs * w[c] + b[c];
        } else {
            for (int c = 0; c < C; c++) {
                real h = (xr[c] - mr) * rs;
                yr[c] = (w ? h * w[c] : h) + (b ? b[c] : 0);
            }
        }
        if (mean)
            mean[n] = mr;
        if (rstd)
            rstd[n] = rs;
    }
}

static void FN(ln_forward)(real *y, real *s, real *mean, real *rstd, const real *x, const real *res,
                           const real *w, const real *b, int N, int C, float eps)
{
    if ((size_t)N * C <= NN_PAR_MIN) {
        FN(ln_rows)(y, s, mean, rstd, x, res, w, b, 0, N, C, eps);
        return;
    }
    enum { ROWS = 16 };
    int nblk = (N + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++)
        FN(ln_rows)(y, s, mean, rstd, x, res, w, b, k * ROWS, k * ROWS + ROWS < N ? k * ROWS + ROWS : N, C, eps);
}

void FN(nn_layernorm_forward)(real *y, real *mean, real *rstd, const real *x,
                              const real *w, const real *b, int N, int C, float eps)
{
    FN(ln_forward)(y, NULL, mean, rstd, x, NULL, w, b, N, C, eps);
}

void FN(nn_add_layernorm_forward)(real *y, real *s, real *mean, real *rstd, const real *a, const real *r,
                                  const real *w, const real *b, int N, int C, float eps)
{
    FN(ln_forward)(y, s, mean, rstd, a, r, w, b, N, C, eps);
}

/* dx rows [n0, n1): dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
NN_HOT static void FN(ln_bwd_rows)(real *dx, const real *dy, const real *x, const real *mean,
                                   const real *rstd, const real *w, int n0, int n1, int C)
{
    for (int n = n0; n < n1; n++) {
        const real *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;
        real *dxr = dx + (size_t)n * C;
        real m = mean[n], rs = rstd[n];
        double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int c = 0; c < C; c++) {
            double dh = (double)g[c] * (w ? w[c] : 1);
            s1 += dh;
            s2 += dh * (double)((xr[c] - m) * rs);
        }
        real a1 = (real)(s1 / C), a2 = (real)(s2 / C);
#pragma omp simd
        for (int c = 0; c < C; c++) {
            real h = (xr[c] - m) * rs;
            real dh = g[c] * (w ? w[c] : 1);
            dxr[c] += rs * (dh - a1 - h * a2);
        }
    }
}

/* dw, db for channels [c0, c1): column sums over all rows in order. */
NN_HOT static void FN(ln_bwd_cols)(real *dw, real *db, const real *dy, const real *x, const real *mean,
                                   const real *rstd, int N, int C, int c0, int c1)
{
    enum { BLK = 64 };
    double aw[BLK] = {0}, ab[BLK] = {0};
    const int wd = c1 - c0;
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * C + c0, *g = dy + (size_t)n * C + c0;
        real m = mean[n], rs = rstd[n];
#pragma omp simd
        for (int c = 0; c < wd; c++) {
            aw[c] += (double)g[c] * (double)((xr[c] - m) * rs);
            ab[c] += g[c];
        }
    }
    for (int c = 0; c < wd; c++) {
        if (dw)
            dw[c0 + c] += (real)aw[c];
        if (db)
            db[c0 + c] += (real)ab[c];
    }
}

void FN(nn_layernorm_backward)(real *dx, real *dw, real *db, const real *dy, const real *x,
                               const real *mean, const real *rstd, const real *w, int N, int C)
{
    if (dx) {
        enum { ROWS = 16 };
        int nblk = (N + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
        for (int k = 0; k < nblk; k++)
            FN(ln_bwd_rows)(dx, dy, x, mean, rstd, w, k * ROWS, k * ROWS + ROWS < N ? k * ROWS + ROWS : N, C);
    }
    if (dw || db) {
        /* Column sums: one block of channels per thread, rows in order. */
        enum { BLK = 64 };
        int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int c0 = blk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
            FN(ln_bwd_cols)(dw, db, dy, x, mean, rstd, N, C, c0, c1);
        }
    }
}

/* Per-channel statistics of x[N,C] in double, channel blocks in parallel. */
void FN(nn_batchnorm_forward_train)(real *y, real *mean, real *rstd, real *running_mean,
                                    real *running_var, const real *x, const real *w, const real *b,
                                    int N, int C, float eps, float momentum)
{
    enum { BLK = 64 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
        double s[BLK] = {0}, v[BLK] = {0};
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C;
            for (int c = c0; c < c1; c++)
                s[c - c0] += xr[c];
        }
        for (int c = c0; c < c1; c++)
            s[c - c0] /= N;
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                double d = xr[c] - s[c - c0];
                v[c - c0] += d * d;
            }
        }
        real mr[BLK], rs[BLK];
        for (int c = c0; c < c1; c++) {
            double var = v[c - c0] / N; /* biased: used to normalise */
            mr[c - c0] = (real)s[c - c0];
            rs[c - c0] = (real)(1.0 / sqrt(var + (double)eps));
            if (mean)
                mean[c] = mr[c - c0];
            if (rstd)
                rstd[c] = rs[c - c0];
            if (running_mean)
                running_mean[c] = (real)((1.0 - momentum) * running_mean[c] + momentum * s[c - c0]);
            if (running_var) {
                double unbiased = N > 1 ? v[c - c0] / (N - 1) : var;
                running_var[c] = (real)((1.0 - momentum) * running_var[c] + momentum * unbiased);
            }
        }
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C;
            real *yr = y + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                real h = (xr[c] - mr[c - c0]) * rs[c - c0];
                yr[c] = (w ? h * w[c] : h) + (b ? b[c] : 0);
            }
        }
    }
}

void FN(nn_batchnorm_forward_eval)(real *y, const real *x, const real *w, const real *b,
                                   const real *running_mean, const real *running_var,
                                   int N, int C, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * C;
        real *yr = y + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            real rs = (real)(1.0 / sqrt((double)running_var[c] + (double)eps));
            real h = (xr[c] - running_mean[c]) * rs;
            yr[c] = (w ? h * w[c] : h) + (b ? b[c] : 0);
        }
    }
}

void FN(nn_batchnorm_backward)(real *dx, real *dw, real *db, const real *dy, const real *x,
                               const real *mean, const real *rstd, const real *w, int N, int C)
{
    enum { BLK = 64 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
        double sg[BLK] = {0}, sgh[BLK] = {0};
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                sg[c - c0] += g[c];
                sgh[c - c0] += (double)g[c] * (double)((xr[c] - mean[c]) * rstd[c]);
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dw)
                dw[c] += (real)sgh[c - c0];
            if (db)
                db[c] += (real)sg[c - c0];
        }
        if (!dx)
            continue;
        /* dx = w*rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        real a1[BLK], a2[BLK], k[BLK];
        for (int c = c0; c < c1; c++) {
            a1[c - c0] = (real)(sg[c - c0] / N);
            a2[c - c0] = (real)(sgh[c - c0] / N);
            k[c - c0] = (w ? w[c] : 1) * rstd[c];
        }
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;
            real *dxr = dx + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                real h = (xr[c] - mean[c]) * rstd[c];
                dxr[c] += k[c - c0] * (g[c] - a1[c - c0] - h * a2[c - c0]);
            }
        }
    }
}

void FN(nn_batchnorm_backward_eval)(real *dx, real *dw, real *db, const real *dy, const real *x,
                                    const real *w, const real *running_mean,
                                    const real *running_var, int N, int C, float eps)
{
    enum { BLK = 64 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
        real rs[BLK];
        double sg[BLK] = {0}, sgh[BLK] = {0};
        for (int c = c0; c < c1; c++)
            rs[c - c0] = (real)(1.0 / sqrt((double)running_var[c] + (double)eps));
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                sg[c - c0] += g[c];
                sgh[c - c0] += (double)g[c] * (double)((xr[c] - running_mean[c]) * rs[c - c0]);
                if (dx)
                    dx[(size_t)n * C + c] += g[c] * (w ? w[c] : 1) * rs[c - c0];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dw)
                dw[c] += (real)sgh[c - c0];
            if (db)
                db[c] += (real)sg[c - c0];
        }
    }
}

#include "nn/real_end.h"
