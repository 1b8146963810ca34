/* core/brainmass/bm_ops.c - forward/backward kernels of the BrainMass encoder:
 * linear (sgemm), LayerNorm, multi-head attention core with fused softmax,
 * and hash-based dropout whose masks can be regenerated in the backward pass
 * (so they are never stored and do not depend on the thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "bm_internal.h"

uint64_t bm_key(uint64_t a, uint64_t b)
{
    return bs_splitmix64(a ^ bs_splitmix64(b + 0x9e3779b97f4a7c15ull));
}

int bm_dropout_keep(uint64_t key, uint64_t i, float p)
{
    uint64_t h = bs_splitmix64(key + i * 0xd1b54a32d192ed03ull);
    double u = (double)(h >> 40) * (1.0 / 16777216.0);
    return u >= (double)p;
}

void bm_dropout(float *x, size_t n, float p, uint64_t key)
{
    if (p <= 0.0f)
        return;
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        x[i] = bm_dropout_keep(key, i, p) ? x[i] * scale : 0.0f;
}

void bm_linear_fwd(const float *x, const float *w, const float *b, float *y, int n, int in, int out)
{
    if (b) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                b ? 1.0f : 0.0f, y, out);
}

void bm_linear_bwd(const float *dy, const float *x, const float *w, float *dx, float *dw, float *db,
                   int n, int in, int out, int acc_dx)
{
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                    acc_dx ? 1.0f : 0.0f, dx, in);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in,
                    1.0f, dw, in);
    if (db) {
        /* column sums in double, in a fixed order */
#pragma omp parallel for schedule(static)
        for (int j = 0; j < out; j++) {
            double s = 0.0;
            for (int i = 0; i < n; i++)
                s += dy[(size_t)i * out + j];
            db[j] += (float)s;
        }
    }
}

void bm_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *mean,
                      float *rstd, int n, int d, float eps)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double s = 0.0, ss = 0.0;
        for (int j = 0; j < d; j++)
            s += xi[j];
        double mu = s / d;
        for (int j = 0; j < d; j++) {
            double c = xi[j] - mu;
            ss += c * c;
        }
        float r = (float)(1.0 / sqrt(ss / d + eps));
        float mf = (float)mu;
        float *yi = y + (size_t)i * d;
        for (int j = 0; j < d; j++)
            yi[j] = (xi[j] - mf) * r * g[j] + b[j];
        mean[i] = mf;
        rstd[i] = r;
    }
}

void bm_layernorm_bwd(const float *dy, const float *x, const float *mean, const float *rstd,
                      const float *g, float *dx, float *dg, float *db, int n, int d)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float *dxi = dx + (size_t)i * d;
        double s1 = 0.0, s2 = 0.0;
        for (int j = 0; j < d; j++) {
            double xh = (xi[j] - mean[i]) * rstd[i];
            double gd = (double)dyi[j] * g[j];
            s1 += gd;
            s2 += gd * xh;
        }
        s1 /= d;
        s2 /= d;
        for (int j = 0; j < d; j++) {
            double xh = (xi[j] - mean[i]) * rstd[i];
            double gd = (double)dyi[j] * g[j];
            dxi[j] = (float)(rstd[i] * (gd - s1 - xh * s2));
        }
    }
    /* parameter gradients: reduce over rows per column (fixed order) */
#pragma omp parallel for schedule(static)
    for (int j = 0; j < d; j++) {
        double sg = 0.0, sb = 0.0;
        for (int i = 0; i < n; i++) {
            double xh = (x[(size_t)i * d + j] - mean[i]) * rstd[i];
            sg += dy[(size_t)i * d + j] * xh;
            sb += dy[(size_t)i * d + j];
        }
        dg[j] += (float)sg;
        db[j] += (float)sb;
    }
}

/* Dropout key of one (sample, head) probability matrix. */
static uint64_t head_key(uint64_t key, int b, int h, int H)
{
    return bm_key(key, (uint64_t)b * (uint64_t)H + (uint64_t)h);
}

void bm_attention_fwd(const float *qkv, float *prob, float *ctx, int B, int T, int d, int H,
                      float p_drop, uint64_t drop_key)
{
    const int hd = d / H, ld = 3 * d;
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
#pragma omp parallel
    {
        float *q = malloc(sizeof(float) * (size_t)hd);
        float *pd = malloc(sizeof(float) * (size_t)T);
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            float *P = prob + (size_t)bh * T * T;
            uint64_t hk = head_key(drop_key, b, h, H);
            for (int i = 0; i < T; i++) {
                const float *qi = base + (size_t)i * ld + h * hd;
                for (int c = 0; c < hd; c++)
                    q[c] = qi[c] * scale;
                float *Pi = P + (size_t)i * T, mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    const float *kj = base + (size_t)j * ld + d + h * hd;
                    float s = 0.0f;
                    for (int c = 0; c < hd; c++)
                        s += q[c] * kj[c];
                    Pi[j] = s;
                    if (s > mx)
                        mx = s;
                }
                double sum = 0.0;
                for (int j = 0; j < T; j++) {
                    Pi[j] = expf(Pi[j] - mx);
                    sum += Pi[j];
                }
                float inv = (float)(1.0 / sum);
                for (int j = 0; j < T; j++) {
                    Pi[j] *= inv;
                    pd[j] = Pi[j];
                    if (p_drop > 0.0f)
                        pd[j] = bm_dropout_keep(hk, (uint64_t)i * T + j, p_drop) ? pd[j] * keep_scale : 0.0f;
                }
                float *ci = ctx + ((size_t)b * T + i) * d + h * hd;
                for (int c = 0; c < hd; c++)
                    ci[c] = 0.0f;
                for (int j = 0; j < T; j++) {
                    const float *vj = base + (size_t)j * ld + 2 * d + h * hd;
                    float w = pd[j];
                    for (int c = 0; c < hd; c++)
                        ci[c] += w * vj[c];
                }
            }
        }
        free(q);
        free(pd);
    }
}

void bm_attention_bwd(const float *dctx, const float *qkv, const float *prob, float *dqkv,
                      int B, int T, int d, int H, float p_drop, uint64_t drop_key)
{
    const int hd = d / H, ld = 3 * d;
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
#pragma omp parallel
    {
        float *dS = malloc(sizeof(float) * (size_t)T * T);
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            float *dbase = dqkv + (size_t)b * T * ld;
            const float *P = prob + (size_t)bh * T * T;
            uint64_t hk = head_key(drop_key, b, h, H);
            for (int i = 0; i < T; i++)
                for (int c = 0; c < hd; c++) {
                    dbase[(size_t)i * ld + h * hd + c] = 0.0f;
                    dbase[(size_t)i * ld + d + h * hd + c] = 0.0f;
                    dbase[(size_t)i * ld + 2 * d + h * hd + c] = 0.0f;
                }
            for (int i = 0; i < T; i++) {
                const float *dci = dctx + ((size_t)b * T + i) * d + h * hd;
                const float *Pi = P + (size_t)i * T;
                float *dSi = dS + (size_t)i * T;
                double dot = 0.0;
                for (int j = 0; j < T; j++) {
                    const float *vj = base + (size_t)j * ld + 2 * d + h * hd;
                    float *dvj = dbase + (size_t)j * ld + 2 * d + h * hd;
                    float keep = 1.0f;
                    if (p_drop > 0.0f)
                        keep = bm_dropout_keep(hk, (uint64_t)i * T + j, p_drop) ? keep_scale : 0.0f;
                    float pd = Pi[j] * keep, g = 0.0f;
                    for (int c = 0; c < hd; c++) {
                        g += dci[c] * vj[c];
                        dvj[c] += pd * dci[c];
                    }
                    dSi[j] = g * keep;  /* dP */
                    dot += (double)dSi[j] * Pi[j];
                }
                float fd = (float)dot;
                for (int j = 0; j < T; j++)
                    dSi[j] = Pi[j] * (dSi[j] - fd) * scale;
            }
            for (int i = 0; i < T; i++) {
                const float *dSi = dS + (size_t)i * T;
                const float *qi = base + (size_t)i * ld + h * hd;
                float *dqi = dbase + (size_t)i * ld + h * hd;
                for (int j = 0; j < T; j++) {
                    const float *kj = base + (size_t)j * ld + d + h * hd;
                    float *dkj = dbase + (size_t)j * ld + d + h * hd;
                    float s = dSi[j];
                    for (int c = 0; c < hd; c++) {
                        dqi[c] += s * kj[c];
                        dkj[c] += s * qi[c];
                    }
                }
            }
        }
        free(dS);
    }
}
