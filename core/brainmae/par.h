/* core/brainmae/par.h - BrainMAE's threading policy: OpenMP splits the work,
 * and every BLAS call made while that happens runs on the calling thread.
 *
 * Two thread pools on the same cores (libgomp's and OpenBLAS's pthreads)
 * oversubscribe them: each pool's idle workers spin while the other's run.
 * So inside a bs_brainmae forward or backward pass OpenBLAS is switched to
 * one thread (mae_par_begin/end), large GEMMs are split by rows or columns
 * over the OpenMP threads (mae_sgemm), and many small GEMMs (one per
 * sequence and head) run side by side, one per OpenMP thread.  Splitting
 * never cuts the inner (K) dimension, so no result is a sum whose order
 * depends on the thread count.  Private to core/brainmae/. */
#ifndef BRAINMAE_PAR_H
#define BRAINMAE_PAR_H

#include <cblas.h>
#include <stdint.h>

typedef struct mae_par {
    int blas_prev; /* OpenBLAS thread count to restore, 0 = nothing changed */
} mae_par;

/* Makes BLAS single-threaded until mae_par_end (no-op when it already is,
 * inside a parallel region, or when OpenBLAS is its OpenMP or sequential
 * build, which never oversubscribe from inside an OpenMP region).  The
 * OpenBLAS thread count is process-wide: two threads running BrainMAE
 * passes at the same time would race on it. */
void mae_par_begin(mae_par *p);
void mae_par_end(mae_par *p);

/* Threads for a product of `work` multiply-adds: 1 inside a parallel
 * region or when splitting would cost more than it saves. */
int mae_par_threads(double work);
/* Part length when `len` rows or columns are split over nt threads: a
 * multiple of 16, the GEMM kernels' unroll. */
static inline int mae_part_size(int len, int nt)
{
    return ((len + nt - 1) / nt + 15) & ~15;
}

/* Row-major C = alpha op(A) op(B) + beta C, like cblas_sgemm.  Large
 * products are split over the longer of M and N across the OpenMP threads,
 * each part a single-threaded BLAS call. */
void mae_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* dst[c] += sum_n x[n*C + c] (double accumulators; rows summed in order, so
 * the result does not depend on the thread count). */
void mae_colsum_acc(float *dst, const float *x, int64_t N, int C);
/* The same for columns c0 <= c < c1 only, on the calling thread. */
void mae_colsum_range(float *dst, const float *x, int64_t N, int C, int c0, int c1);

#endif
