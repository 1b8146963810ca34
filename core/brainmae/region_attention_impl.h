/* core/brainmae/region_attention_impl.h - body of the region-aware graph
 * attention op, included twice by region_attention.c: once for float (the
 * model) and once for double (the finite-difference gradient check).
 * Expects REAL, SFX (name suffix) and GEMM (cblas_sgemm / cblas_dgemm). */

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

/* out[s] += alpha @ v[s] for every sequence s; v, out are (nseq, R, d).
 * The nseq node-feature sets are gathered into one R x (nseq*d) matrix so a
 * single GEMM does the whole batch.  scratch: 2 * nseq*R*d. */
void RA_FN(bs_region_aggregate_forward)(const REAL *alpha, const REAL *v, int64_t nseq, int R,
                                        int d, REAL *out, REAL *scratch)
{
    const int64_t cols = nseq * d;
    REAL *vt = scratch, *ot = scratch + (size_t)cols * R;
    for (int64_t s = 0; s < nseq; s++)
        for (int r = 0; r < R; r++)
            memcpy(vt + (size_t)r * cols + (size_t)s * d, v + ((size_t)s * R + r) * d,
                   sizeof(REAL) * (size_t)d);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, (int)cols, R, 1, alpha, R, vt, (int)cols,
         0, ot, (int)cols);
    for (int64_t s = 0; s < nseq; s++)
        for (int r = 0; r < R; r++) {
            REAL *o = out + ((size_t)s * R + r) * d;
            const REAL *src = ot + (size_t)r * cols + (size_t)s * d;
            for (int j = 0; j < d; j++) o[j] += src[j];
        }
}

/* Accumulates dv += alpha^T dout and dalpha += sum_s dout[s] v[s]^T.
 * scratch: 3 * nseq*R*d. */
void RA_FN(bs_region_aggregate_backward)(const REAL *alpha, const REAL *v, const REAL *dout,
                                         int64_t nseq, int R, int d, REAL *dv, REAL *dalpha,
                                         REAL *scratch)
{
    const int64_t cols = nseq * d;
    REAL *vt = scratch, *gt = scratch + (size_t)cols * R, *dvt = gt + (size_t)cols * R;
    for (int64_t s = 0; s < nseq; s++)
        for (int r = 0; r < R; r++) {
            memcpy(vt + (size_t)r * cols + (size_t)s * d, v + ((size_t)s * R + r) * d,
                   sizeof(REAL) * (size_t)d);
            memcpy(gt + (size_t)r * cols + (size_t)s * d, dout + ((size_t)s * R + r) * d,
                   sizeof(REAL) * (size_t)d);
        }
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, R, R, (int)cols, 1, gt, (int)cols, vt,
         (int)cols, 1, dalpha, R);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, R, (int)cols, R, 1, alpha, R, gt, (int)cols,
         0, dvt, (int)cols);
    for (int64_t s = 0; s < nseq; s++)
        for (int r = 0; r < R; r++) {
            REAL *o = dv + ((size_t)s * R + r) * d;
            const REAL *src = dvt + (size_t)r * cols + (size_t)s * d;
            for (int j = 0; j < d; j++) o[j] += src[j];
        }
}

#undef RA_FN
#undef RA_CAT
#undef RA_CAT2
