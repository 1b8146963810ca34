/* nn/tokens_impl.h - mask tokens, prepended tokens, row gathers, token
 * mean-pool, sinusoidal tables; type-generic body (instantiated by
 * tokens.c; see real_begin.h). */
#include "nn/real_begin.h"

void FN(nn_mask_token_forward)(real *y, const real *x, const real *token, const uint8_t *mask,
                               int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *src = mask[n] ? token : x + (size_t)n * C;
        if (y + (size_t)n * C != src)
            memcpy(y + (size_t)n * C, src, sizeof(real) * (size_t)C);
    }
}

void FN(nn_mask_token_backward)(real *dx, real *dtoken, const real *dy, const uint8_t *mask,
                                int N, int C)
{
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
        for (int n = 0; n < N; n++) {
            if (mask[n])
                continue;
            real *d = dx + (size_t)n * C;
            const real *g = dy + (size_t)n * C;
            for (int c = 0; c < C; c++)
                d[c] += g[c];
        }
    }
    if (dtoken) {
        /* Per channel, rows in order: deterministic. */
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int n = 0; n < N; n++)
                if (mask[n])
                    s += dy[(size_t)n * C + c];
            dtoken[c] += (real)s;
        }
    }
}

void FN(nn_prepend_tokens_forward)(real *y, const real *x, const real *tokens,
                                   int B, int T, int K, int C)
{
    size_t out_rows = (size_t)K + T;
#pragma omp parallel for schedule(static) if ((size_t)B * out_rows * C > NN_PAR_MIN)
    for (int b = 0; b < B; b++) {
        real *yb = y + (size_t)b * out_rows * C;
        memcpy(yb, tokens, sizeof(real) * (size_t)K * C);
        memcpy(yb + (size_t)K * C, x + (size_t)b * T * C, sizeof(real) * (size_t)T * C);
    }
}

void FN(nn_prepend_tokens_backward)(real *dx, real *dtokens, const real *dy,
                                    int B, int T, int K, int C)
{
    size_t out_rows = (size_t)K + T;
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)B * T * C > NN_PAR_MIN)
        for (int b = 0; b < B; b++) {
            real *d = dx + (size_t)b * T * C;
            const real *g = dy + ((size_t)b * out_rows + K) * C;
            for (size_t i = 0; i < (size_t)T * C; i++)
                d[i] += g[i];
        }
    }
    if (dtokens) {
        size_t kc = (size_t)K * C;
        for (size_t i = 0; i < kc; i++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                s += dy[(size_t)b * out_rows * C + i];
            dtokens[i] += (real)s;
        }
    }
}

void FN(nn_gather_rows_forward)(real *y, const real *x, const int32_t *rows, int M, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)M * C > NN_PAR_MIN)
    for (int m = 0; m < M; m++)
        memcpy(y + (size_t)m * C, x + (size_t)rows[m] * C, sizeof(real) * (size_t)C);
}

void FN(nn_gather_rows_backward)(real *dx, const real *dy, const int32_t *rows, int M, int C)
{
    /* Serial over m (rows may repeat); columns vectorise. */
    for (int m = 0; m < M; m++) {
        real *d = dx + (size_t)rows[m] * C;
        const real *g = dy + (size_t)m * C;
        for (int c = 0; c < C; c++)
            d[c] += g[c];
    }
}

void FN(nn_mean_tokens_forward)(real *y, const real *x, int B, int T, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)B * T * C > NN_PAR_MIN)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int t = 0; t < T; t++)
                s += x[((size_t)b * T + t) * C + c];
            y[(size_t)b * C + c] = (real)(s / T);
        }
    }
}

void FN(nn_mean_tokens_backward)(real *dx, const real *dy, int B, int T, int C)
{
    real inv = (real)(1.0 / T);
#pragma omp parallel for schedule(static) if ((size_t)B * T * C > NN_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            real *d = dx + ((size_t)b * T + t) * C;
            const real *g = dy + (size_t)b * C;
            for (int c = 0; c < C; c++)
                d[c] += g[c] * inv;
        }
}

void FN(nn_sinusoid_table)(real *table, int T, int C, double base)
{
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double angle = t / pow(base, 2.0 * (c / 2) / C);
            table[(size_t)t * C + c] = (real)((c % 2 == 0) ? sin(angle) : cos(angle));
        }
}

#include "nn/real_end.h"
