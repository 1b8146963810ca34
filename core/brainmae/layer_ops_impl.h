/* core/brainmae/layer_ops_impl.h - body of BrainMAE's fused transformer ops
 * (LayerNorm, tanh-GELU with dropout, residual dropout, multi-head
 * self-attention), included twice by layer_ops.c: float for the model,
 * double for the finite-difference checks.  Expects REAL, FN(name), GEMM1
 * (a single-threaded cblas_?gemm call without the order argument), SQRT,
 * TANH and EXP_NEG (exp of an argument <= 0), and undefines them at its end.
 *
 * Why not the nn core's ops: per-element libm tanh, double accumulators in
 * every LayerNorm row and one dot product per (query, head dim) made those
 * the bulk of a BrainMAE step (callgrind: GELU 29 %, attention 20 %,
 * LayerNorm 14 % of all instructions).  Here rows are vectorised in the
 * element type, tanh is computed from the vectorisable exp, and attention
 * is two BLAS products per (sequence, head). */

#define LN_EPS 1e-5
#define GELU_K 0.79788456080286535588 /* sqrt(2/pi) */
#define GELU_C 0.044715
/* rows per OpenMP work item of the row-wise ops */
#define ROW_CHUNK 64
/* channels per work item of the column sums, one AVX-512 vector */
#define LN_COLS 16
/* elements per work item of the elementwise ops */
#define SPAN 4096

MAE_HOT static void FN(ln_fwd_rows)(REAL *y, REAL *mean, REAL *rstd, const REAL *x, const REAL *g,
                                   const REAL *b, int64_t r0, int64_t r1, int d)
{
    for (int64_t r = r0; r < r1; r++) {
        const REAL *xr = x + (size_t)r * d;
        REAL *yr = y + (size_t)r * d;
        REAL s = 0, v = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < d; c++) s += xr[c];
        const REAL m = s / d;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < d; c++) v += (xr[c] - m) * (xr[c] - m);
        const REAL rs = (REAL)1 / SQRT(v / d + (REAL)LN_EPS);
#pragma omp simd
        for (int c = 0; c < d; c++) yr[c] = (xr[c] - m) * rs * g[c] + b[c];
        mean[r] = m;
        rstd[r] = rs;
    }
}

void FN(mae_layernorm_fwd)(REAL *y, REAL *mean, REAL *rstd, const REAL *x, const REAL *g,
                           const REAL *b, int64_t N, int d)
{
    const int64_t nch = (N + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp parallel for schedule(static) if (N * d > NN_PAR_MIN)
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t r0 = ch * ROW_CHUNK, r1 = r0 + ROW_CHUNK < N ? r0 + ROW_CHUNK : N;
        FN(ln_fwd_rows)(y, mean, rstd, x, g, b, r0, r1, d);
    }
}

MAE_HOT static void FN(ln_bwd_rows)(REAL *dx, const REAL *dy, const REAL *x, const REAL *mean,
                                   const REAL *rstd, const REAL *g, int64_t r0, int64_t r1, int d,
                                   int accumulate)
{
    for (int64_t r = r0; r < r1; r++) {
        const REAL *xr = x + (size_t)r * d, *gr = dy + (size_t)r * d;
        REAL *dxr = dx + (size_t)r * d;
        const REAL m = mean[r], rs = rstd[r];
        REAL s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int c = 0; c < d; c++) {
            const REAL dh = gr[c] * g[c];
            s1 += dh;
            s2 += dh * (xr[c] - m) * rs;
        }
        const REAL a1 = s1 / d, a2 = s2 / d, keep = accumulate ? 1 : 0;
        /* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
#pragma omp simd
        for (int c = 0; c < d; c++)
            dxr[c] = keep * dxr[c] + rs * (gr[c] * g[c] - a1 - (xr[c] - m) * rs * a2);
    }
}

/* dg, db column sums over every row, one block of 16 channels per work
 * item, rows in order (same sums whatever the thread count). */
MAE_HOT static void FN(ln_bwd_cols)(REAL *dg, REAL *db, const REAL *dy, const REAL *x,
                                   const REAL *mean, const REAL *rstd, int64_t N, int d, int c0)
{
    enum { W = LN_COLS };
    double ag[W] = {0}, ab[W] = {0};
    const int nc = c0 + W <= d ? W : d - c0;
    for (int64_t r = 0; r < N; r++) {
        const REAL *xr = x + (size_t)r * d + c0, *gr = dy + (size_t)r * d + c0;
        const REAL m = mean[r], rs = rstd[r];
        if (nc == W) {
            for (int c = 0; c < W; c++) {
                ag[c] += (double)(gr[c] * ((xr[c] - m) * rs));
                ab[c] += (double)gr[c];
            }
        } else {
            for (int c = 0; c < nc; c++) {
                ag[c] += (double)(gr[c] * ((xr[c] - m) * rs));
                ab[c] += (double)gr[c];
            }
        }
    }
    for (int c = 0; c < nc; c++) {
        dg[c0 + c] += (REAL)ag[c];
        db[c0 + c] += (REAL)ab[c];
    }
}

void FN(mae_layernorm_bwd)(REAL *dx, REAL *dg, REAL *db, const REAL *dy, const REAL *x,
                           const REAL *mean, const REAL *rstd, const REAL *g, int64_t N, int d,
                           int accumulate)
{
    const int64_t nch = (N + ROW_CHUNK - 1) / ROW_CHUNK;
    const int ncb = (d + LN_COLS - 1) / LN_COLS;
#pragma omp parallel if (N * d > NN_PAR_MIN)
    {
#pragma omp for schedule(static) nowait
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t r0 = ch * ROW_CHUNK, r1 = r0 + ROW_CHUNK < N ? r0 + ROW_CHUNK : N;
            FN(ln_bwd_rows)(dx, dy, x, mean, rstd, g, r0, r1, d, accumulate);
        }
#pragma omp for schedule(static)
        for (int cb = 0; cb < ncb; cb++)
            FN(ln_bwd_cols)(dg, db, dy, x, mean, rstd, N, d, cb * LN_COLS);
    }
}

/* ---- elementwise ops, each with an optional dropout factor k(i) of
 * element i (mae_drop, ops.h; the mask is recomputed from its hash where it
 * is needed, never stored): tanh-GELU (output dropped), its backward,
 * residual add (branch dropped), plain dropout ---- */

#ifndef MAE_EW_OPS
#define MAE_EW_OPS
enum { EW_GELU_FWD, EW_GELU_BWD, EW_RESIDUAL, EW_DROPOUT };
#endif

#define GELU_T(v) TANH((REAL)GELU_K * ((v) + (REAL)GELU_C * (v) * (v) * (v)))
#define GELU_D(v, t) \
    ((REAL)0.5 * (1 + (t)) + \
     (REAL)0.5 * (v) * (1 - (t) * (t)) * (REAL)GELU_K * (1 + 3 * (REAL)GELU_C * (v) * (v)))
/* dropout factor of element i: keep / (1 - p) or 0 */
#define KEEP(i) ((REAL)((mae_mix32(key + (uint32_t)(i) * MAE_DROP_STEP) >> 16) >= thr) * sc)

/* EW_GELU_FWD: y = gelu(a) [* k]; EW_GELU_BWD: y *= gelu'(a) [* k];
 * EW_RESIDUAL: y = a + b [* k]; EW_DROPOUT: y = a * k; on [i0, i1).  The
 * dropout test sits outside the loops so that each loop vectorises. */
MAE_HOT static void FN(ew_span)(int op, REAL *y, const REAL *a, const REAL *b,
                                const mae_drop *dr, int64_t i0, int64_t i1)
{
    const uint32_t key = dr ? dr->key : 0, thr = dr ? dr->thr : 0;
    const REAL sc = dr ? (REAL)dr->scale : 1;
    switch (op) {
    case EW_GELU_FWD:
        if (dr) {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++)
                y[i] = (REAL)0.5 * a[i] * (1 + GELU_T(a[i])) * KEEP(i);
        } else {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) y[i] = (REAL)0.5 * a[i] * (1 + GELU_T(a[i]));
        }
        break;
    case EW_GELU_BWD:
        if (dr) {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) {
                const REAL t = GELU_T(a[i]);
                y[i] *= GELU_D(a[i], t) * KEEP(i);
            }
        } else {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) {
                const REAL t = GELU_T(a[i]);
                y[i] *= GELU_D(a[i], t);
            }
        }
        break;
    case EW_RESIDUAL:
        if (dr) {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i] * KEEP(i);
        } else {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
        }
        break;
    default:
#pragma omp simd
        for (int64_t i = i0; i < i1; i++) y[i] = a[i] * KEEP(i);
    }
}

static void FN(ew_run)(int op, REAL *y, const REAL *a, const REAL *b, const mae_drop *dr,
                       int64_t n)
{
    const int64_t nsp = (n + SPAN - 1) / SPAN;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (int64_t sp = 0; sp < nsp; sp++) {
        const int64_t i0 = sp * SPAN, i1 = i0 + SPAN < n ? i0 + SPAN : n;
        FN(ew_span)(op, y, a, b, dr, i0, i1);
    }
}

void FN(mae_gelu_fwd)(REAL *y, const REAL *x, int64_t n, const mae_drop *dr)
{
    FN(ew_run)(EW_GELU_FWD, y, x, NULL, dr, n);
}

void FN(mae_gelu_bwd)(REAL *g, const REAL *x, int64_t n, const mae_drop *dr)
{
    FN(ew_run)(EW_GELU_BWD, g, x, NULL, dr, n);
}

void FN(mae_residual_fwd)(REAL *y, const REAL *a, const REAL *b, const mae_drop *dr, int64_t n)
{
    FN(ew_run)(EW_RESIDUAL, y, a, b, dr, n);
}

void FN(mae_dropout_apply)(REAL *y, const REAL *x, const mae_drop *dr, int64_t n)
{
    FN(ew_run)(EW_DROPOUT, y, x, NULL, dr, n);
}

#undef KEEP
#undef GELU_D
#undef GELU_T

/* ---- multi-head self-attention, one (sequence, head) pair at a time ---- */

/* Row-wise softmax of p (rows x n) in place. */
MAE_HOT static void FN(softmax_rows)(REAL *p, int rows, int n)
{
    for (int t = 0; t < rows; t++) {
        REAL *row = p + (size_t)t * n, mx = row[0], sum = 0;
#pragma omp simd reduction(max : mx)
        for (int s = 0; s < n; s++) mx = row[s] > mx ? row[s] : mx;
#pragma omp simd reduction(+ : sum)
        for (int s = 0; s < n; s++) {
            row[s] = EXP_NEG(row[s] - mx);
            sum += row[s];
        }
        const REAL inv = 1 / sum;
#pragma omp simd
        for (int s = 0; s < n; s++) row[s] *= inv;
    }
}

/* g (rows x n) <- p * (g - <p, g>_row) * scale: the softmax backward with
 * the score scale folded in. */
MAE_HOT static void FN(softmax_rows_bwd)(REAL *g, const REAL *p, int rows, int n, REAL scale)
{
    for (int t = 0; t < rows; t++) {
        REAL *gr = g + (size_t)t * n, dot = 0;
        const REAL *pr = p + (size_t)t * n;
#pragma omp simd reduction(+ : dot)
        for (int s = 0; s < n; s++) dot += pr[s] * gr[s];
#pragma omp simd
        for (int s = 0; s < n; s++) gr[s] = pr[s] * (gr[s] - dot) * scale;
    }
}

/* One (sequence, head) pair of the forward: P = softmax(scale Q K^T) into
 * att, out = drop(P) V. */
static void FN(mhsa_pair_fwd)(REAL *o, REAL *att, const REAL *qkv, int64_t pair, int n, int d,
                              int nh, const mae_drop *dr, REAL *work)
{
    const int hd = d / nh, ld = 3 * d;
    const int64_t s = pair / nh, nn = (int64_t)n * n;
    const REAL scale = (REAL)(1.0 / sqrt((double)hd));
    const REAL *q = qkv + (size_t)s * n * ld + (size_t)(pair % nh) * hd, *k = q + d, *v = q + 2 * d;
    REAL *P = att + (size_t)(pair * nn);
    GEMM1(CblasNoTrans, CblasTrans, n, n, hd, scale, q, ld, k, ld, 0, P, n);
    FN(softmax_rows)(P, n, n);
    const REAL *Wt = P;
    if (dr) { /* element indices of the whole (nseq, nh, n, n) tensor */
        FN(ew_span)(EW_DROPOUT, work, att, NULL, dr, pair * nn, (pair + 1) * nn);
        Wt = work + (size_t)(pair * nn);
    }
    GEMM1(CblasNoTrans, CblasNoTrans, n, hd, n, 1, Wt, n, v, ld, 0,
          o + (size_t)s * n * d + (size_t)(pair % nh) * hd, d);
}

/* One pair of the backward: dV, then dP -> dS (softmax backward, scale
 * folded in) -> dQ, dK; the pair's slice of work holds drop(P), then dS. */
static void FN(mhsa_pair_bwd)(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att,
                              int64_t pair, int n, int d, int nh, const mae_drop *dr, REAL *work)
{
    const int hd = d / nh, ld = 3 * d;
    const int64_t s = pair / nh, nn = (int64_t)n * n, e0 = pair * nn, e1 = e0 + nn;
    const REAL scale = (REAL)(1.0 / sqrt((double)hd));
    const size_t qo = (size_t)s * n * ld + (size_t)(pair % nh) * hd;
    const REAL *q = qkv + qo, *k = q + d, *v = q + 2 * d;
    REAL *dq = dqkv + qo, *dk = dq + d, *dv = dq + 2 * d;
    const REAL *go = dout + (size_t)s * n * d + (size_t)(pair % nh) * hd;
    const REAL *P = att + (size_t)e0, *Pd = P;
    REAL *G = work + (size_t)e0;
    if (dr) { /* out = Pd V with Pd = drop(P) */
        FN(ew_span)(EW_DROPOUT, work, att, NULL, dr, e0, e1);
        Pd = G;
    }
    GEMM1(CblasTrans, CblasNoTrans, n, hd, n, 1, Pd, n, go, d, 0, dv, ld);
    GEMM1(CblasNoTrans, CblasTrans, n, n, hd, 1, go, d, v, ld, 0, G, n);
    if (dr) FN(ew_span)(EW_DROPOUT, work, work, NULL, dr, e0, e1);
    FN(softmax_rows_bwd)(G, P, n, n, scale);
    GEMM1(CblasNoTrans, CblasNoTrans, n, hd, n, 1, G, n, k, ld, 0, dq, ld);
    GEMM1(CblasTrans, CblasNoTrans, n, hd, n, 1, G, n, q, ld, 0, dk, ld);
}

/* Every (sequence, head) pair, spread over the OpenMP threads; each pair's
 * GEMMs run single-threaded (par.h). */
static void FN(mhsa_pairs)(int backward, REAL *y, const REAL *dout, const REAL *qkv, REAL *att,
                           int64_t nseq, int n, int d, int nh, const mae_drop *dr, REAL *work)
{
    mae_par scope;
    mae_par_begin(&scope);
#pragma omp parallel for schedule(static) if (nseq * nh * n * n * (d / nh) > NN_PAR_MIN)
    for (int64_t pair = 0; pair < nseq * nh; pair++) {
        if (backward)
            FN(mhsa_pair_bwd)(y, dout, qkv, att, pair, n, d, nh, dr, work);
        else
            FN(mhsa_pair_fwd)(y, att, qkv, pair, n, d, nh, dr, work);
    }
    mae_par_end(&scope);
}

void FN(mae_mhsa_fwd)(REAL *o, REAL *att, const REAL *qkv, int64_t nseq, int n, int d, int nh,
                      const mae_drop *dr, REAL *work)
{
    FN(mhsa_pairs)(0, o, NULL, qkv, att, nseq, n, d, nh, dr, work);
}

void FN(mae_mhsa_bwd)(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att,
                      int64_t nseq, int n, int d, int nh, const mae_drop *dr, REAL *work)
{
    /* att is only read on this path */
    FN(mhsa_pairs)(1, dqkv, dout, qkv, (REAL *)att, nseq, n, d, nh, dr, work);
}

#undef ROW_CHUNK
#undef LN_COLS
#undef SPAN
#undef GELU_C
#undef GELU_K
#undef LN_EPS

/* the instantiation's parameters, so the next one starts clean */
#undef REAL
#undef FN
#undef SQRT
#undef TANH
#undef EXP_NEG
#undef GEMM1
