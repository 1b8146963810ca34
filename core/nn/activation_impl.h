/* nn/activation_impl.h - relu, leaky relu, gelu, dropout; type-generic body
 * (instantiated by activation.c; see real_begin.h). */
#include "nn/real_begin.h"

void FN(nn_relu_forward)(real *y, const real *x, size_t n)
{
    FN(nn_relu_dropout_forward)(y, x, n, 0.0f, 0);
}

void FN(nn_relu_backward)(real *dx, const real *dy, const real *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0 ? dy[i] : 0;
}

void FN(nn_leaky_relu_forward)(real *y, const real *x, size_t n, float slope)
{
    real s = (real)slope;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : x[i] * s;
}

void FN(nn_leaky_relu_backward)(real *dx, const real *dy, const real *x, size_t n, float slope)
{
    real s = (real)slope;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0 ? dy[i] : dy[i] * s;
}

void FN(nn_gelu_forward)(real *y, const real *x, size_t n, nn_gelu_kind kind)
{
    const real inv_sqrt2 = (real)0.70710678118654752440, k = (real)0.79788456080286535588;
    if (kind == NN_GELU_TANH) {
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            real v = x[i];
            y[i] = (real)0.5 * v * (1 + R_TANH(k * (v + (real)0.044715 * v * v * v)));
        }
    } else {
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            real v = x[i];
            y[i] = (real)0.5 * v * (1 + R_ERF(v * inv_sqrt2));
        }
    }
}

void FN(nn_gelu_backward)(real *dx, const real *dy, const real *x, size_t n, nn_gelu_kind kind)
{
    const real inv_sqrt2 = (real)0.70710678118654752440, k = (real)0.79788456080286535588;
    const real inv_sqrt_2pi = (real)0.39894228040143267794;
    if (kind == NN_GELU_TANH) {
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            real v = x[i];
            real t = R_TANH(k * (v + (real)0.044715 * v * v * v));
            real d = (real)0.5 * (1 + t) +
                     (real)0.5 * v * (1 - t * t) * k * (1 + 3 * (real)0.044715 * v * v);
            dx[i] += dy[i] * d;
        }
    } else {
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            real v = x[i];
            real d = (real)0.5 * (1 + R_ERF(v * inv_sqrt2)) + v * inv_sqrt_2pi * R_EXP(-(real)0.5 * v * v);
            dx[i] += dy[i] * d;
        }
    }
}

NN_HOT static void FN(dropout_loop)(real *y, uint8_t *mask, const real *x, size_t n, real scale,
                                    uint64_t stream, uint64_t thr)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint8_t keep = (uint8_t)nn_hash_keep(stream, i, thr);
        mask[i] = keep;
        y[i] = keep ? x[i] * scale : 0;
    }
}

void FN(nn_dropout_forward)(real *y, uint8_t *mask, const real *x, size_t n, float p, uint64_t seed)
{
    if (p <= 0) {
        if (y != x)
            memcpy(y, x, n * sizeof(real));
        memset(mask, 1, n);
        return;
    }
    real scale = p < 1 ? (real)(1.0 / (1.0 - (double)p)) : 0;
    uint64_t s = nn_dropout_stream(seed), thr = nn_keep_threshold(p);
    if (n <= NN_PAR_MIN) {
        FN(dropout_loop)(y, mask, x, n, scale, s, thr);
        return;
    }
    /* Fixed blocks: element i always gets hash i, whichever thread runs it. */
    size_t nblk = (n + NN_PAR_MIN - 1) / NN_PAR_MIN;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < nblk; k++) {
        size_t i0 = k * NN_PAR_MIN, len = n - i0 < NN_PAR_MIN ? n - i0 : NN_PAR_MIN;
        FN(dropout_loop)(y + i0, mask + i0, x + i0, len, scale, s + i0 * 0x9e3779b97f4a7c15ULL, thr);
    }
}

/* ReLU then inverted dropout in one pass; only the output is kept for
 * backward (a kept positive input stays positive, every other element is 0). */
NN_HOT static void FN(relu_dropout_loop)(real *y, const real *x, size_t n, real scale, uint64_t stream,
                                         uint64_t thr)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        real v = x[i] > 0 ? x[i] * scale : 0;
        y[i] = nn_hash_keep(stream, i, thr) ? v : 0;
    }
}

NN_HOT static void FN(relu_loop)(real *y, const real *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

void FN(nn_relu_dropout_forward)(real *y, const real *x, size_t n, float p, uint64_t seed)
{
    size_t nblk = (n + NN_PAR_MIN - 1) / NN_PAR_MIN;
    real scale = p > 0 && p < 1 ? (real)(1.0 / (1.0 - (double)p)) : (p > 0 ? 0 : 1);
    uint64_t s = nn_dropout_stream(seed), thr = nn_keep_threshold(p);
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (size_t k = 0; k < nblk; k++) {
        size_t i0 = k * NN_PAR_MIN, len = n - i0 < NN_PAR_MIN ? n - i0 : NN_PAR_MIN;
        if (p > 0)
            FN(relu_dropout_loop)(y + i0, x + i0, len, scale, s + i0 * 0x9e3779b97f4a7c15ULL, thr);
        else
            FN(relu_loop)(y + i0, x + i0, len);
    }
}

NN_HOT static void FN(relu_dropout_bwd_loop)(real *dx, const real *dy, const real *y, size_t n,
                                             real scale, int inplace)
{
    if (inplace) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            dx[i] = y[i] > 0 ? dx[i] * scale : 0;
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            dx[i] += y[i] > 0 ? dy[i] * scale : 0;
    }
}

void FN(nn_relu_dropout_backward)(real *dx, const real *dy, const real *y, size_t n, float p)
{
    size_t nblk = (n + NN_PAR_MIN - 1) / NN_PAR_MIN;
    real scale = p > 0 && p < 1 ? (real)(1.0 / (1.0 - (double)p)) : (p > 0 ? 0 : 1);
    int inplace = dx == dy;
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (size_t k = 0; k < nblk; k++) {
        size_t i0 = k * NN_PAR_MIN, len = n - i0 < NN_PAR_MIN ? n - i0 : NN_PAR_MIN;
        FN(relu_dropout_bwd_loop)(dx + i0, dy + i0, y + i0, len, scale, inplace);
    }
}

NN_HOT static void FN(dropout_bwd_loop)(real *dx, const real *dy, const uint8_t *mask, size_t n, real scale)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dx[i] += mask[i] ? dy[i] * scale : 0;
}

void FN(nn_dropout_backward)(real *dx, const real *dy, const uint8_t *mask, size_t n, float p)
{
    real scale = p < 1 ? (real)(1.0 / (1.0 - (double)p)) : 0;
    if (p <= 0)
        scale = 1;
    size_t nblk = (n + NN_PAR_MIN - 1) / NN_PAR_MIN;
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (size_t k = 0; k < nblk; k++) {
        size_t i0 = k * NN_PAR_MIN, len = n - i0 < NN_PAR_MIN ? n - i0 : NN_PAR_MIN;
        FN(dropout_bwd_loop)(dx + i0, dy + i0, mask + i0, len, scale);
    }
}

#include "nn/real_end.h"
