/* nn/linear_impl.h - linear layer and batched matmul, type-generic body
 * (instantiated by linear.c; see real_begin.h). */
#include "nn/real_begin.h"

/* db[o0..o1) += column sums of dy[N, ld] in double, rows in order (the
 * lanes are channels, so vectorising does not reorder any sum). */
#define NN_COLSUM_BLK 64
NN_HOT static void FN(colsum_block)(real *db, const real *dy, int N, int ld, int o0, int o1)
{
    double acc[NN_COLSUM_BLK] = {0};
    const int w = o1 - o0;
    for (int n = 0; n < N; n++) {
        const real *row = dy + (size_t)n * ld + o0;
#pragma omp simd
        for (int o = 0; o < w; o++)
            acc[o] += row[o];
    }
    for (int o = 0; o < w; o++)
        db[o0 + o] += (real)acc[o];
}

void FN(nn_linear_forward_ld)(real *y, const real *x, const real *w, int ldw, const real *b,
                              int N, int in, int out, int accumulate)
{
    real beta = accumulate ? 1 : 0;
    if (b) {
        /* Seed y with the bias (or add it) so one GEMM with beta = 1 finishes the job. */
        for (int n = 0; n < N; n++) {
            real *yr = y + (size_t)n * out;
            if (accumulate)
                for (int o = 0; o < out; o++)
                    yr[o] += b[o];
            else
                memcpy(yr, b, sizeof(real) * (size_t)out);
        }
        beta = 1;
    }
    R_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1, x, in, w, ldw, beta, y, out);
}

void FN(nn_linear_forward)(real *y, const real *x, const real *w, const real *b,
                           int N, int in, int out)
{
    FN(nn_linear_forward_ld)(y, x, w, in, b, N, in, out, 0);
}

void FN(nn_linear_backward)(real *dx, real *dw, real *db, const real *dy,
                            const real *x, const real *w, int N, int in, int out)
{
    if (dx) /* dx[N,in] += dy[N,out] W[out,in] */
        R_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1, dy, out, w, in, 1, dx, in);
    if (dw) /* dW[out,in] += dy^T x */
        R_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1, dy, out, x, in, 1, dw, in);
    if (db) {
        /* db[o] += sum_n dy[n,o], accumulated in double, one channel block
         * per thread so the summation order never changes. */
        int nblk = (out + NN_COLSUM_BLK - 1) / NN_COLSUM_BLK;
#pragma omp parallel for schedule(static) if ((size_t)N * out > NN_PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int o0 = blk * NN_COLSUM_BLK, o1 = o0 + NN_COLSUM_BLK < out ? o0 + NN_COLSUM_BLK : out;
            FN(colsum_block)(db, dy, N, out, o0, o1);
        }
    }
}

void FN(nn_bmm_nt_forward)(real *c, const real *a, const real *bt, int batch, int M, int Nc, int K)
{
    for (int i = 0; i < batch; i++)
        R_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, Nc, K, 1, a + (size_t)i * M * K, K,
               bt + (size_t)i * Nc * K, K, 0, c + (size_t)i * M * Nc, Nc);
}

void FN(nn_bmm_nt_backward)(real *da, real *dbt, const real *dc, const real *a, const real *bt,
                            int batch, int M, int Nc, int K)
{
    for (int i = 0; i < batch; i++) {
        const real *dci = dc + (size_t)i * M * Nc;
        if (da) /* da = dc . bt */
            R_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, Nc, 1, dci, Nc,
                   bt + (size_t)i * Nc * K, K, 1, da + (size_t)i * M * K, K);
        if (dbt) /* dbt = dc^T . a */
            R_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Nc, K, M, 1, dci, Nc,
                   a + (size_t)i * M * K, K, 1, dbt + (size_t)i * Nc * K, K);
    }
}

#include "nn/real_end.h"
