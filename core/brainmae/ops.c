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

/* Rows [r0, r0 + n) of the forward: bias rows, then one GEMM with beta = 1
 * (or beta = 0 without a bias). */
static void linear_fwd_rows(float *out, const float *in, const float *W, const float *b,
                            int64_t r0, int n, int i, int o)
{
    if (b) fill_rows(out, b, r0, r0 + n, o);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, o, i, 1, in + (size_t)r0 * i, i, W,
                i, b ? 1.0f : 0.0f, out + (size_t)r0 * o, o);
}

/* One parallel region per layer: each thread fills and multiplies its own
 * rows (single-threaded BLAS, par.h). */
void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                    int i, int o)
{
    const int nt = mae_par_threads((double)N * i * o);
    if (nt <= 1) {
        linear_fwd_rows(out, in, W, b, 0, (int)N, i, o);
        return;
    }
    mae_par scope;
    mae_par_begin(&scope);
    const int part = mae_part_size((int)N, nt), nparts = ((int)N + part - 1) / part;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int p = 0; p < nparts; p++) {
        const int r0 = p * part, n = (r0 + part <= N ? r0 + part : (int)N) - r0;
        linear_fwd_rows(out, in, W, b, r0, n, i, o);
    }
    mae_par_end(&scope);
}

/* One parallel region: the input gradient split by rows, the weight
 * gradient (and the bias gradient of the same outputs) by output rows; no
 * part cuts the N-long sums, so they do not depend on the thread count. */
void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                    const float *W, int64_t N, int i, int o, int accumulate)
{
    const float beta = accumulate ? 1.0f : 0.0f;
    const int nt = mae_par_threads((double)N * i * o);
    if (nt <= 1) {
        if (din)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, i, o, 1, dout, o, W, i,
                        beta, din, i);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o, i, (int)N, 1, dout, o, in, i, 1,
                    dW, i);
        if (db) mae_colsum_range(db, dout, N, o, 0, o);
        return;
    }
    mae_par scope;
    mae_par_begin(&scope);
    const int prow = mae_part_size((int)N, nt), nrow = ((int)N + prow - 1) / prow;
    const int pout = mae_part_size(o, nt), nout = (o + pout - 1) / pout;
#pragma omp parallel num_threads(nt)
    {
        if (din) {
#pragma omp for schedule(static) nowait
            for (int p = 0; p < nrow; p++) {
                const int r0 = p * prow, n = (r0 + prow <= N ? r0 + prow : (int)N) - r0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, i, o, 1,
                            dout + (size_t)r0 * o, o, W, i, beta, din + (size_t)r0 * i, i);
            }
        }
#pragma omp for schedule(static)
        for (int p = 0; p < nout; p++) {
            const int o0 = p * pout, m = (o0 + pout <= o ? o0 + pout : o) - o0;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, i, (int)N, 1, dout + o0, o, in,
                        i, 1, dW + (size_t)o0 * i, i);
            if (db) mae_colsum_range(db, dout, N, o, o0, o0 + m);
        }
    }
    mae_par_end(&scope);
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
