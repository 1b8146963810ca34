/* core/brainmae/ops.c - BrainMAE's linear layer on split GEMMs (par.h) and
 * its dropout masks. */
#include "ops.h"
#include "par.h"

#include <string.h>

#include "nn/nn_internal.h"

MAE_HOT static void fill_rows(float *out, const float *b, int64_t n0, int64_t n1, int o)
{
    for (int64_t n = n0; n < n1; n++) {
        float *row = out + (size_t)n * o;
#pragma omp simd
        for (int c = 0; c < o; c++) row[c] = b[c];
    }
}

void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                    int i, int o)
{
    float beta = 0;
    if (b) {
        /* seed the output with the bias so one GEMM with beta = 1 finishes */
        enum { ROWS = 256 };
        const int64_t nch = (N + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if (N * o > NN_PAR_MIN)
        for (int64_t ch = 0; ch < nch; ch++)
            fill_rows(out, b, ch * ROWS, ch * ROWS + ROWS < N ? ch * ROWS + ROWS : N, o);
        beta = 1;
    }
    mae_sgemm(CblasNoTrans, CblasTrans, (int)N, o, i, 1, in, i, W, i, beta, out, o);
}

void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                    const float *W, int64_t N, int i, int o, int accumulate)
{
    if (din)
        mae_sgemm(CblasNoTrans, CblasNoTrans, (int)N, i, o, 1, dout, o, W, i,
                  accumulate ? 1.0f : 0.0f, din, i);
    mae_sgemm(CblasTrans, CblasNoTrans, o, i, (int)N, 1, dout, o, in, i, 1, dW, i);
    if (db) mae_colsum_acc(db, dout, N, o);
}

/* splitmix64 (same as bs_splitmix64), inlined so the mask loop vectorises */
static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

MAE_HOT static void mask_groups(uint8_t *keep, int64_t g0, int64_t g1, uint32_t thr, uint64_t seed)
{
    for (int64_t g = g0; g < g1; g++) {
        const uint64_t h = mix64(seed + (uint64_t)g * 0x9e3779b97f4a7c15ULL);
        for (int lane = 0; lane < 4; lane++)
            keep[4 * g + lane] = ((h >> (16 * lane)) & 0xffff) >= thr;
    }
}

void mae_dropout_mask(uint8_t *keep, int64_t n, float p, uint64_t seed)
{
    const uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
    const int64_t full = n / 4;
    enum { GROUPS = 4096 };
    const int64_t nch = (full + GROUPS - 1) / GROUPS;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (int64_t c = 0; c < nch; c++)
        mask_groups(keep, c * GROUPS, c * GROUPS + GROUPS < full ? c * GROUPS + GROUPS : full, thr,
                    seed);
    if (n % 4) {
        const uint64_t h = mix64(seed + (uint64_t)full * 0x9e3779b97f4a7c15ULL);
        for (int lane = 0; lane < n % 4; lane++)
            keep[4 * full + lane] = ((h >> (16 * lane)) & 0xffff) >= thr;
    }
}
