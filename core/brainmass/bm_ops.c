/* core/brainmass/bm_ops.c - forward/backward kernels of the BrainMass encoder:
 * linear (sgemm), LayerNorm, multi-head attention core with fused softmax,
 * and hash-based dropout whose masks can be regenerated in the backward pass
 * (so they are never stored and do not depend on the thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "bm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

uint64_t bm_key(uint64_t a, uint64_t b)
{
    return bs_splitmix64(a ^ bs_splitmix64(b + 0x9e3779b97f4a7c15ull));
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

/* Big products are split into row blocks, one per OpenMP thread, each a
 * single-threaded sgemm (the model runs OpenBLAS with one thread, see
 * bm_blas_single): one threading runtime, no spinning pools competing. */
#define SPLIT_MIN_WORK (1 << 20)

static int split_count(size_t rows, size_t work)
{
#ifdef _OPENMP
    int t = omp_get_max_threads();
    if (work < SPLIT_MIN_WORK || t < 2 || rows < (size_t)(2 * t))
        return 1;
    return t;
#else
    (void)rows;
    (void)work;
    return 1;
#endif
}

int bm_blas_single(void)
{
    int prev = openblas_get_num_threads();
    if (prev != 1)
        openblas_set_num_threads(1);
    return prev;
}

void bm_blas_restore(int prev)
{
    if (prev != 1)
        openblas_set_num_threads(prev);
}

void bm_linear_fwd(const float *x, const float *w, const float *b, float *y, int n, int in, int out)
{
    int parts = split_count((size_t)n, (size_t)n * in * out);
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
    for (int p = 0; p < parts; p++) {
        int r0 = (int)((int64_t)n * p / parts), r1 = (int)((int64_t)n * (p + 1) / parts);
        if (r1 <= r0)
            continue;
        if (b)
            for (int i = r0; i < r1; i++)
                memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, out, in, 1.0f, x + (size_t)r0 * in, in,
                    w, in, b ? 1.0f : 0.0f, y + (size_t)r0 * out, out);
    }
}

void bm_linear_bwd(const float *dy, const float *x, const float *w, float *dx, float *dw, float *db,
                   int n, int in, int out, int acc_dx)
{
    size_t work = (size_t)n * in * out;
    if (dx) {
        int parts = split_count((size_t)n, work);
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
        for (int p = 0; p < parts; p++) {
            int r0 = (int)((int64_t)n * p / parts), r1 = (int)((int64_t)n * (p + 1) / parts);
            if (r1 > r0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, in, out, 1.0f,
                            dy + (size_t)r0 * out, out, w, in, acc_dx ? 1.0f : 0.0f, dx + (size_t)r0 * in, in);
        }
    }
    if (dw) {
        int parts = split_count((size_t)out, work);
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
        for (int p = 0; p < parts; p++) {
            int o0 = (int)((int64_t)out * p / parts), o1 = (int)((int64_t)out * (p + 1) / parts);
            if (o1 > o0)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, in, n, 1.0f, dy + o0, out, x, in,
                            1.0f, dw + (size_t)o0 * in, in);
        }
    }
    if (db) {
        /* column sums in double, in a fixed order */
#pragma omp parallel for schedule(static) if (out >= 64)
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

/* exp for x <= 0 (softmax after max subtraction): Cody-Waite reduction and a
 * degree-6 polynomial (about 2 ulp).  Written on GCC vector types so eight
 * lanes go at once whatever the ISA clone; the scalar twin handles tails. */
typedef float bm_v8f __attribute__((vector_size(32)));
typedef int32_t bm_v8i __attribute__((vector_size(32)));

#define EXP_BODY(VF, VI, x, out)                                                 \
    do {                                                                         \
        VI lo_mask = (x) < -87.0f;                                               \
        VF xc = (VF)((lo_mask & (VI)((VF){0} - 87.0f)) | (~lo_mask & (VI)(x)));  \
        VI ni = __builtin_convertvector(xc * 1.44269504088896341f - 0.5f, VI);   \
        VF n = __builtin_convertvector(ni, VF);                                  \
        VF r = xc - n * 0.693359375f + n * 2.12194440e-4f;                       \
        VF p = r * 1.9875691500e-4f + 1.3981999507e-3f;                          \
        p = p * r + 8.3334519073e-3f;                                            \
        p = p * r + 4.1665795894e-2f;                                            \
        p = p * r + 1.6666665459e-1f;                                            \
        p = p * r + 5.0000001201e-1f;                                            \
        VF y = p * r * r + r + 1.0f;                                             \
        out = y * (VF)((ni + 127) << 23);                                        \
    } while (0)

static inline float softmax_exp1(float x)
{
    typedef float v1f __attribute__((vector_size(4)));
    typedef int32_t v1i __attribute__((vector_size(4)));
    v1f xv = {x}, out;
    EXP_BODY(v1f, v1i, xv, out);
    return out[0];
}

/* Row softmax in place over P[rows, T]; one clone per ISA (runtime dispatch). */
__attribute__((target_clones("avx2", "default")))
static void softmax_rows(float *P, int rows, int T)
{
    for (int i = 0; i < rows; i++) {
        float *Pi = P + (size_t)i * T, mx = Pi[0];
        for (int j = 1; j < T; j++)
            mx = Pi[j] > mx ? Pi[j] : mx;
        bm_v8f vsum = {0};
        int j = 0;
        for (; j + 8 <= T; j += 8) {
            bm_v8f v, e;
            __builtin_memcpy(&v, Pi + j, sizeof v);
            v = v - mx;
            EXP_BODY(bm_v8f, bm_v8i, v, e);
            __builtin_memcpy(Pi + j, &e, sizeof e);
            vsum += e;
        }
        float sum = ((vsum[0] + vsum[1]) + (vsum[2] + vsum[3])) + ((vsum[4] + vsum[5]) + (vsum[6] + vsum[7]));
        for (; j < T; j++) {
            Pi[j] = softmax_exp1(Pi[j] - mx);
            sum += Pi[j];
        }
        float inv = 1.0f / sum;
        for (j = 0; j < T; j++)
            Pi[j] *= inv;
    }
}

/* Per (sample, head): small single-threaded GEMMs on strided views of the
 * packed qkv (OpenBLAS keeps products this small on the calling thread), so
 * the OpenMP loop over sample x head is the only parallel level. */
void bm_attention_fwd(const float *qkv, float *prob, float *ctx, int B, int T, int d, int H,
                      float p_drop, uint64_t drop_key)
{
    const int hd = d / H, ld = 3 * d;
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
#pragma omp parallel
    {
        float *pd = p_drop > 0.0f ? malloc(sizeof(float) * (size_t)T * T) : NULL;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *q = qkv + (size_t)b * T * ld + h * hd, *k = q + d, *v = q + 2 * d;
            float *P = prob + (size_t)bh * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld, k, ld, 0.0f, P, T);
            softmax_rows(P, T, T);
            const float *use = P;
            if (pd) {
                uint64_t hk = head_key(drop_key, b, h, H);
                for (size_t i = 0; i < (size_t)T * T; i++)
                    pd[i] = bm_dropout_keep(hk, i, p_drop) ? P[i] * keep_scale : 0.0f;
                use = pd;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, use, T, v, ld, 0.0f,
                        ctx + (size_t)b * T * d + h * hd, d);
        }
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
        float *pd = p_drop > 0.0f ? malloc(sizeof(float) * (size_t)T * T) : NULL;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            size_t off = (size_t)b * T * ld + h * hd;
            const float *q = qkv + off, *k = q + d, *v = q + 2 * d;
            float *dq = dqkv + off, *dk = dq + d, *dv = dq + 2 * d;
            const float *P = prob + (size_t)bh * T * T;
            const float *dc = dctx + (size_t)b * T * d + h * hd;
            uint64_t hk = head_key(drop_key, b, h, H);
            const float *use = P;
            if (pd) {
                for (size_t i = 0; i < (size_t)T * T; i++)
                    pd[i] = bm_dropout_keep(hk, i, p_drop) ? P[i] * keep_scale : 0.0f;
                use = pd;
            }
            /* dV = Pd^T dctx ; dPd = dctx V^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, use, T, dc, d, 0.0f, dv, ld);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dc, d, v, ld, 0.0f, dS, T);
            for (int i = 0; i < T; i++) {
                const float *Pi = P + (size_t)i * T;
                float *dSi = dS + (size_t)i * T;
                if (pd)
                    for (int j = 0; j < T; j++)
                        dSi[j] = pd[(size_t)i * T + j] != 0.0f ? dSi[j] * keep_scale : 0.0f;
                double dot = 0.0;
                for (int j = 0; j < T; j++)
                    dot += (double)dSi[j] * Pi[j];
                float fd = (float)dot;
                for (int j = 0; j < T; j++)
                    dSi[j] = Pi[j] * (dSi[j] - fd) * scale;
            }
            /* dQ = dS K ; dK = dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, k, ld, 0.0f, dq, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, q, ld, 0.0f, dk, ld);
        }
        free(dS);
        free(pd);
    }
}
