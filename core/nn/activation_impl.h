/* nn/activation_impl.h - relu, leaky relu, gelu, dropout; type-generic body
 * (instantiated by activation.c; see real_begin.h). */
#include "nn/real_begin.h"

void FN(nn_relu_forward)(real *y, const real *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
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

void FN(nn_dropout_forward)(real *y, uint8_t *mask, const real *x, size_t n, float p, uint64_t seed)
{
    if (p <= 0) {
        if (y != x)
            memcpy(y, x, n * sizeof(real));
        memset(mask, 1, n);
        return;
    }
    real scale = p < 1 ? (real)(1.0 / (1.0 - (double)p)) : 0;
    uint64_t s = nn_dropout_stream(seed);
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        uint8_t keep = nn_hash_uniform(s, i) >= (double)p;
        mask[i] = keep;
        y[i] = keep ? x[i] * scale : 0;
    }
}

void FN(nn_dropout_backward)(real *dx, const real *dy, const uint8_t *mask, size_t n, float p)
{
    real scale = p < 1 ? (real)(1.0 / (1.0 - (double)p)) : 0;
    if (p <= 0)
        scale = 1;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dx[i] += mask[i] ? dy[i] * scale : 0;
}

#include "nn/real_end.h"
