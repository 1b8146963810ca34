/* core/brainmae/ops.c - linear / LayerNorm / GELU / self-attention forward
 * and backward for BrainMAE (see ops.h for the accumulate convention). */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many scalar operations a loop runs on one thread: fork/join of
 * an OpenMP team costs more than the work, and on a loaded machine a
 * descheduled team member stalls the barrier. */
#define PAR_MIN ((int64_t)1 << 17)
#define PAR_MIN_ATT ((int64_t)1 << 21)

void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                   int i, int o)
{
    if (b) {
        for (int64_t r = 0; r < N; r++) memcpy(out + r * o, b, sizeof(float) * (size_t)o);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, o, i, 1.0f, in, i, W, i,
                b ? 1.0f : 0.0f, out, o);
}

void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int64_t N, int i, int o)
{
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, i, o, 1.0f, dout, o, W, i,
                    1.0f, din, i);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o, i, (int)N, 1.0f, dout, o, in, i, 1.0f,
                dW, i);
    if (db) {
        /* double accumulation: N can be tens of thousands of rows */
        for (int c = 0; c < o; c++) {
            double s = 0;
            for (int64_t r = 0; r < N; r++) s += dout[r * o + c];
            db[c] += (float)s;
        }
    }
}

void mae_layernorm_fwd(float *out, float *mean, float *rstd, const float *in, const float *g,
                      const float *b, int64_t N, int d)
{
#pragma omp parallel for schedule(static) if (N * d >= PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *x = in + r * d;
        float *y = out + r * d;
        double m = 0, v = 0;
        for (int j = 0; j < d; j++) m += x[j];
        m /= d;
        for (int j = 0; j < d; j++) v += (x[j] - m) * (x[j] - m);
        v /= d;
        double s = 1.0 / sqrt(v + 1e-5);
        for (int j = 0; j < d; j++) y[j] = (float)((x[j] - m) * s) * g[j] + b[j];
        mean[r] = (float)m;
        rstd[r] = (float)s;
    }
}

void mae_layernorm_bwd(float *din, float *dg, float *db, const float *dout, const float *in,
                      const float *mean, const float *rstd, const float *g, int64_t N, int d)
{
    /* parameter gradients: serial over rows in double for determinism */
    double *sg = calloc((size_t)d * 2, sizeof(double));
    for (int64_t r = 0; r < N; r++) {
        const float *x = in + r * d, *dy = dout + r * d;
        for (int j = 0; j < d; j++) {
            double xh = (x[j] - mean[r]) * rstd[r];
            sg[j] += dy[j] * xh;
            sg[d + j] += dy[j];
        }
    }
    for (int j = 0; j < d; j++) {
        dg[j] += (float)sg[j];
        db[j] += (float)sg[d + j];
    }
    free(sg);
#pragma omp parallel for schedule(static) if (N * d >= PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *x = in + r * d, *dy = dout + r * d;
        float *dx = din + r * d;
        double a = 0, c = 0;
        for (int j = 0; j < d; j++) {
            double xh = (x[j] - mean[r]) * rstd[r];
            double gy = (double)dy[j] * g[j];
            a += gy;
            c += gy * xh;
        }
        a /= d;
        c /= d;
        for (int j = 0; j < d; j++) {
            double xh = (x[j] - mean[r]) * rstd[r];
            dx[j] += (float)(rstd[r] * ((double)dy[j] * g[j] - a - xh * c));
        }
    }
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void mae_gelu_fwd(float *out, const float *in, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void mae_gelu_bwd(float *din, const float *dout, const float *in, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        din[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

void mae_add(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* Attention matrices are small (n <= a few hundred, head dim <= 64): plain
 * loops parallel over (sequence, head) keep OpenBLAS's own threads out of
 * OpenMP regions and make the result independent of the schedule. */
void mae_mhsa_fwd(float *o, float *att, const float *qkv, int64_t nseq, int n, int d, int nh)
{
    const int dh = d / nh, ld = 3 * d;
    const float scale = 1.0f / sqrtf((float)dh);
#pragma omp parallel for schedule(static) if (nseq * n * n * d >= PAR_MIN_ATT)
    for (int64_t sh = 0; sh < nseq * nh; sh++) {
        int64_t s = sh / nh;
        int h = (int)(sh % nh);
        const float *base = qkv + s * n * ld;
        float *A = att + sh * n * n;
        for (int i = 0; i < n; i++) {
            const float *q = base + (int64_t)i * ld + h * dh;
            float *row = A + (int64_t)i * n;
            float mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                const float *k = base + (int64_t)j * ld + d + h * dh;
                float acc = 0;
                for (int c = 0; c < dh; c++) acc += q[c] * k[c];
                row[j] = acc * scale;
                if (row[j] > mx) mx = row[j];
            }
            float sum = 0;
            for (int j = 0; j < n; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < n; j++) row[j] *= inv;
            float *out = o + (s * n + i) * d + h * dh;
            for (int c = 0; c < dh; c++) out[c] = 0;
            for (int j = 0; j < n; j++) {
                const float *v = base + (int64_t)j * ld + 2 * d + h * dh;
                float a = row[j];
                for (int c = 0; c < dh; c++) out[c] += a * v[c];
            }
        }
    }
}

void mae_mhsa_bwd(float *dqkv, const float *dout, const float *qkv, const float *att,
                 int64_t nseq, int n, int d, int nh)
{
    const int dh = d / nh, ld = 3 * d;
    const float scale = 1.0f / sqrtf((float)dh);
    memset(dqkv, 0, sizeof(float) * (size_t)(nseq * n * ld));
#pragma omp parallel if (nseq * n * n * d >= PAR_MIN_ATT)
    {
        float *dA = malloc(sizeof(float) * (size_t)n);
#pragma omp for schedule(static)
        for (int64_t sh = 0; sh < nseq * nh; sh++) {
            int64_t s = sh / nh;
            int h = (int)(sh % nh);
            const float *base = qkv + s * n * ld;
            float *dbase = dqkv + s * n * ld;
            const float *A = att + sh * n * n;
            for (int i = 0; i < n; i++) {
                const float *row = A + (int64_t)i * n;
                const float *dy = dout + (s * n + i) * d + h * dh;
                /* dA_ij = dy . v_j ; dv_j += A_ij dy */
                float dot = 0;
                for (int j = 0; j < n; j++) {
                    const float *v = base + (int64_t)j * ld + 2 * d + h * dh;
                    float *dv = dbase + (int64_t)j * ld + 2 * d + h * dh;
                    float acc = 0;
                    for (int c = 0; c < dh; c++) {
                        acc += dy[c] * v[c];
                        dv[c] += row[j] * dy[c];
                    }
                    dA[j] = acc;
                    dot += acc * row[j];
                }
                const float *q = base + (int64_t)i * ld + h * dh;
                float *dq = dbase + (int64_t)i * ld + h * dh;
                for (int j = 0; j < n; j++) {
                    float dS = row[j] * (dA[j] - dot) * scale;
                    const float *k = base + (int64_t)j * ld + d + h * dh;
                    float *dk = dbase + (int64_t)j * ld + d + h * dh;
                    for (int c = 0; c < dh; c++) {
                        dq[c] += dS * k[c];
                        dk[c] += dS * q[c];
                    }
                }
            }
        }
        free(dA);
    }
}
