/* core/brainmae/region_attention_impl.h - body of the region-aware graph
 * attention op, included twice by region_attention.c: once for float (the
 * model) and once for double (the finite-difference gradient check).
 * Expects REAL, SFX (name suffix), GEMM (cblas_sgemm / cblas_dgemm or a
 * wrapper with that signature) and GEMM1 (single-threaded, no order
 * argument). */

#define RA_CAT2(a, b) a##b
#define RA_CAT(a, b) RA_CAT2(a, b)
#define RA_FN(name) RA_CAT(name, SFX)

/* alpha = row-softmax(Q K^T / sqrt(dk)), Q = E Wq^T, K = E Wk^T (Wq, Wk are
 * dk x d, PyTorch Linear layout); the diagonal is excluded unless self_loops,
 * so a node's output never sees its own (possibly masked) features. */
void RA_FN(bs_region_adjacency_forward)(const REAL *E, const REAL *Wq, const REAL *Wk,
                                        int R, int d, int dk, int self_loops,
                                        REAL *q, REAL *k, REAL *alpha)
{
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, R, dk, d, 1, E, d, Wq, d, 0, q, dk);
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, R, dk, d, 1, E, d, Wk, d, 0, k, dk);
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, R, R, dk, (REAL)(1.0 / sqrt((double)dk)),
         q, dk, k, dk, 0, alpha, R);
    for (int i = 0; i < R; i++) {
        REAL *row = alpha + (size_t)i * R;
        double mx = -INFINITY;
        for (int j = 0; j < R; j++)
            if ((self_loops || j != i) && row[j] > mx) mx = row[j];
        double sum = 0;
        for (int j = 0; j < R; j++) {
            double e = (self_loops || j != i) ? exp(row[j] - mx) : 0.0;
            row[j] = (REAL)e;
            sum += e;
        }
        for (int j = 0; j < R; j++) row[j] = (REAL)(row[j] / sum);
    }
}

/* Accumulates dE, dWq, dWk from dalpha.  scratch: R*R + 2*R*dk. */
void RA_FN(bs_region_adjacency_backward)(const REAL *E, const REAL *Wq, const REAL *Wk,
                                         const REAL *q, const REAL *k, const REAL *alpha,
                                         const REAL *dalpha, int R, int d, int dk,
                                         REAL *dE, REAL *dWq, REAL *dWk, REAL *scratch)
{
    REAL *dA = scratch, *dq = scratch + (size_t)R * R, *dk_ = dq + (size_t)R * dk;
    const REAL scale = (REAL)(1.0 / sqrt((double)dk));
    /* softmax backward; the removed diagonal has alpha = 0 so it gets 0. */
    for (int i = 0; i < R; i++) {
        const REAL *a = alpha + (size_t)i * R, *g = dalpha + (size_t)i * R;
        double dot = 0;
        for (int j = 0; j < R; j++) dot += (double)a[j] * g[j];
        for (int j = 0; j < R; j++) dA[(size_t)i * R + j] = (REAL)(a[j] * (g[j] - dot) * scale);
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, dk, R, 1, dA, R, k, dk, 0, dq, dk);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, R, dk, R, 1, dA, R, q, dk, 0, dk_, dk);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, dk, d, R, 1, dq, dk, E, d, 1, dWq, d);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, dk, d, R, 1, dk_, dk, E, d, 1, dWk, d);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, d, dk, 1, dq, dk, Wq, d, 1, dE, d);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, d, dk, 1, dk_, dk, Wk, d, 1, dE, d);
}

/* Sequences of the aggregation backward summed into one dalpha partial;
 * a fixed count (not the thread count) keeps the sum order fixed. */
#ifndef RA_GROUPS
#define RA_GROUPS 8
#endif

/* out[s] = alpha @ v[s] for every sequence s; v, out are (nseq, R, d).  One
 * GEMM per sequence, sequences spread over the OpenMP threads (each GEMM
 * single-threaded: par.h); no scratch. */
void RA_FN(bs_region_aggregate_forward)(const REAL *alpha, const REAL *v, int64_t nseq, int R,
                                        int d, REAL *out, REAL *scratch)
{
    (void)scratch;
    mae_par scope;
    mae_par_begin(&scope);
    const size_t blk = (size_t)R * d;
#pragma omp parallel for schedule(static) if (nseq * blk * R > NN_PAR_MIN)
    for (int64_t s = 0; s < nseq; s++)
        GEMM1(CblasNoTrans, CblasNoTrans, R, d, R, 1, alpha, R, v + s * blk, d, 0, out + s * blk,
              d);
    mae_par_end(&scope);
}

/* dv[s] = alpha^T dout[s] (overwritten) and dalpha += sum_s dout[s] v[s]^T,
 * the sum taken over RA_GROUPS consecutive groups of sequences, then over
 * the groups in order.  scratch: RA_GROUPS * R * R. */
void RA_FN(bs_region_aggregate_backward)(const REAL *alpha, const REAL *v, const REAL *dout,
                                         int64_t nseq, int R, int d, REAL *dv, REAL *dalpha,
                                         REAL *scratch)
{
    mae_par scope;
    mae_par_begin(&scope);
    const size_t blk = (size_t)R * d, rr = (size_t)R * R;
    const int64_t per = (nseq + RA_GROUPS - 1) / RA_GROUPS;
#pragma omp parallel if (nseq * blk * R > NN_PAR_MIN)
    {
#pragma omp for schedule(static) nowait
        for (int64_t s = 0; s < nseq; s++)
            GEMM1(CblasTrans, CblasNoTrans, R, d, R, 1, alpha, R, dout + s * blk, d, 0,
                  dv + s * blk, d);
#pragma omp for schedule(static)
        for (int gi = 0; gi < RA_GROUPS; gi++)
            for (int64_t s = gi * per; s < (gi + 1) * per && s < nseq; s++)
                GEMM1(CblasNoTrans, CblasTrans, R, R, d, 1, dout + s * blk, d, v + s * blk, d,
                      s == gi * per ? 0 : 1, scratch + gi * rr, R);
    }
    for (int gi = 0; gi < RA_GROUPS && gi * per < nseq; gi++)
        for (size_t i = 0; i < rr; i++) dalpha[i] += scratch[gi * rr + i];
    mae_par_end(&scope);
}

#undef RA_FN
#undef RA_CAT
#undef RA_CAT2
