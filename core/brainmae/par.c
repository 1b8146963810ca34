/* core/brainmae/par.c - single-threaded BLAS inside OpenMP work, split GEMMs
 * and order-stable column sums (policy in par.h). */
#include "par.h"
#include "ops.h"

#include <string.h>

#include "nn/nn_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS exports these; declared here because cblas.h variants differ. */
extern int openblas_get_parallel(void);
extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int num_threads);

/* Products with fewer multiply-adds run on one thread: splitting them
 * costs more than it saves. */
#define GEMM_PAR_MIN (1 << 18)

void mae_par_begin(mae_par *p)
{
    p->blas_prev = 0;
#ifdef _OPENMP
    /* the thread count is process-wide: only the outermost caller sets it */
    if (omp_in_parallel()) return;
#endif
    /* 1 = the pthreads build: its pool is separate from OpenMP's */
    if (openblas_get_parallel() != 1) return;
    int n = openblas_get_num_threads();
    if (n > 1) {
        p->blas_prev = n;
        openblas_set_num_threads(1);
    }
}

void mae_par_end(mae_par *p)
{
    if (p->blas_prev > 0) openblas_set_num_threads(p->blas_prev);
    p->blas_prev = 0;
}

int mae_par_threads(double work)
{
#ifdef _OPENMP
    if (omp_in_parallel() || work < GEMM_PAR_MIN) return 1;
    return omp_get_max_threads();
#else
    (void)work;
    return 1;
#endif
}

void mae_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const int nt = mae_par_threads((double)M * N * K);
    if (nt <= 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    mae_par scope;
    mae_par_begin(&scope);
    const int split_m = M >= N, len = split_m ? M : N;
    const int part = mae_part_size(len, nt), nparts = (len + part - 1) / part;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int i = 0; i < nparts; i++) {
        const int a = i * part, n = (a + part <= len ? a + part : len) - a;
        if (split_m)
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha,
                        ta == CblasNoTrans ? A + (size_t)a * lda : A + a, lda, B, ldb, beta,
                        C + (size_t)a * ldc, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda,
                        tb == CblasNoTrans ? B + a : B + (size_t)a * ldb, ldb, beta, C + a, ldc);
    }
    mae_par_end(&scope);
}

enum { COLS = 16 };

MAE_HOT static void colsum_block(float *dst, const float *x, int64_t N, int C, int c0, int nc)
{
    double acc[COLS] = {0};
    if (nc == COLS) /* constant trip count: the loop becomes vector adds */
        for (int64_t n = 0; n < N; n++) {
            const float *row = x + (size_t)n * C + c0;
            for (int c = 0; c < COLS; c++) acc[c] += row[c];
        }
    else
        for (int64_t n = 0; n < N; n++) {
            const float *row = x + (size_t)n * C + c0;
            for (int c = 0; c < nc; c++) acc[c] += row[c];
        }
    for (int c = 0; c < nc; c++) dst[c0 + c] += (float)acc[c];
}

void mae_colsum_range(float *dst, const float *x, int64_t N, int C, int c0, int c1)
{
    for (int c = c0; c < c1; c += COLS) colsum_block(dst, x, N, C, c, c + COLS <= c1 ? COLS : c1 - c);
}

void mae_colsum_acc(float *dst, const float *x, int64_t N, int C)
{
    const int nblk = (C + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int b = 0; b < nblk; b++) {
        const int c0 = b * COLS, nc = c0 + COLS <= C ? COLS : C - c0;
        colsum_block(dst, x, N, C, c0, nc);
    }
}
