/* core/brainmae/ops.c - BrainMAE's linear layer on split GEMMs (par.h) and
 * the materialised dropout mask (for tests). */
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

MAE_HOT static void mask_span(uint8_t *keep, int64_t i0, int64_t i1, const mae_drop *dr)
{
    const uint32_t key = dr->key, thr = dr->thr;
#pragma omp simd
    for (int64_t i = i0; i < i1; i++)
        keep[i] = (mae_mix32(key + (uint32_t)i * MAE_DROP_STEP) >> 16) >= thr;
}

void mae_dropout_mask(uint8_t *keep, int64_t n, const mae_drop *dr)
{
    enum { SPAN = 16384 };
    const int64_t nch = (n + SPAN - 1) / SPAN;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (int64_t c = 0; c < nch; c++)
        mask_span(keep, c * SPAN, c * SPAN + SPAN < n ? c * SPAN + SPAN : n, dr);
}
