/* tests/test_brainmae_kernels.c - BrainMAE's own fused kernels
 * (core/brainmae/layer_ops*, par.c, ops.c):
 *  - finite differences in double of LayerNorm, tanh-GELU (with dropout),
 *    residual dropout and multi-head self-attention (with and without
 *    dropout of the probabilities);
 *  - the float build against the double build;
 *  - the float ops against the shared nn core's (same semantics);
 *  - the split GEMM against one cblas_sgemm call, every transpose, with the
 *    split over M and over N;
 *  - column sums; dropout masks: rate, the documented hash, and the same
 *    mask with 1 and 2 threads.
 * Tolerances are atol + rtol * |reference| and are printed. */
#include "brainmae/ops.h"
#include "brainmae/par.h"
#include "brainstage/nn.h"
#include "testutil.h"

#include <cblas.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static unsigned lcg = 12345u;
static double urand(void)
{
    lcg = lcg * 1103515245u + 12345u;
    return ((lcg >> 8) & 0xffff) / 65536.0 * 2.0 - 1.0;
}

static void fill(double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * urand();
}

static void to_float(float *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}

/* ---- finite differences: loss = sum(W .* f(x)), analytic gradient g ---- */

typedef double (*loss_fn)(void *ctx);

/* Compares g with central differences of loss w.r.t. every x[i]. */
static double fd_check(const char *what, double *x, size_t n, const double *g, loss_fn loss,
                       void *ctx)
{
    const double h = 1e-6, atol = 1e-7, rtol = 1e-6;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double keep = x[i];
        x[i] = keep + h;
        const double lp = loss(ctx);
        x[i] = keep - h;
        const double lm = loss(ctx);
        x[i] = keep;
        const double fd = (lp - lm) / (2 * h), err = fabs(fd - g[i]);
        if (err > worst) worst = err;
        CHECK_MSG(err <= atol + rtol * fabs(fd), "%s[%zu]: analytic %.10g, fd %.10g", what, i, g[i],
                  fd);
    }
    printf("fd %-18s max |analytic - fd| = %.2e (atol 1e-7 + rtol 1e-6)\n", what, worst);
    return worst;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* LayerNorm */
enum { LN_N = 5, LN_D = 19 };
typedef struct ln_ctx {
    double x[LN_N * LN_D], g[LN_D], b[LN_D], w[LN_N * LN_D];
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    double y[LN_N * LN_D], mean[LN_N], rstd[LN_N];
    mae_layernorm_fwd_d(y, mean, rstd, c->x, c->g, c->b, LN_N, LN_D);
    return dot(y, c->w, LN_N * LN_D);
}

static void test_layernorm(void)
{
    ln_ctx c;
    fill(c.x, LN_N * LN_D, 2.0);
    for (int i = 0; i < LN_D; i++) c.g[i] = 1 + 0.3 * urand(), c.b[i] = 0.2 * urand();
    fill(c.w, LN_N * LN_D, 1.0);
    double y[LN_N * LN_D], mean[LN_N], rstd[LN_N], dx[LN_N * LN_D], dg[LN_D] = {0}, db[LN_D] = {0};
    mae_layernorm_fwd_d(y, mean, rstd, c.x, c.g, c.b, LN_N, LN_D);
    for (int i = 0; i < LN_N * LN_D; i++) dx[i] = 7; /* overwritten: accumulate = 0 */
    mae_layernorm_bwd_d(dx, dg, db, c.w, c.x, mean, rstd, c.g, LN_N, LN_D, 0);
    fd_check("layernorm x", c.x, LN_N * LN_D, dx, ln_loss, &c);
    fd_check("layernorm gain", c.g, LN_D, dg, ln_loss, &c);
    fd_check("layernorm bias", c.b, LN_D, db, ln_loss, &c);
    /* accumulate = 1 adds to what is there */
    double dx2[LN_N * LN_D];
    for (int i = 0; i < LN_N * LN_D; i++) dx2[i] = 1;
    mae_layernorm_bwd_d(dx2, dg, db, c.w, c.x, mean, rstd, c.g, LN_N, LN_D, 1);
    double worst = 0;
    for (int i = 0; i < LN_N * LN_D; i++) worst = fmax(worst, fabs(dx2[i] - 1 - dx[i]));
    CHECK_MSG(worst < 1e-12, "accumulate: %g", worst);

    /* float vs double and vs the nn core (which accumulates in double) */
    enum { N = 300, D = 64 };
    double *xd = malloc(sizeof(double) * N * D), *yd = malloc(sizeof(double) * N * D);
    double gd[D], bd[D], md[N], rd[N];
    float *xf = malloc(sizeof(float) * N * D), *yf = malloc(sizeof(float) * N * D);
    float *yn = malloc(sizeof(float) * N * D), gf[D], bf[D], mf[N], rf[N], mn[N], rn[N];
    fill(xd, N * D, 3.0);
    for (int i = 0; i < N * D; i++) xd[i] += 1.5; /* non-zero mean */
    fill(gd, D, 1.0);
    fill(bd, D, 0.5);
    to_float(xf, xd, N * D);
    to_float(gf, gd, D);
    to_float(bf, bd, D);
    for (int i = 0; i < N * D; i++) xd[i] = xf[i];
    for (int i = 0; i < D; i++) gd[i] = gf[i], bd[i] = bf[i];
    mae_layernorm_fwd_d(yd, md, rd, xd, gd, bd, N, D);
    mae_layernorm_fwd(yf, mf, rf, xf, gf, bf, N, D);
    nn_layernorm_forward(yn, mn, rn, xf, gf, bf, N, D, 1e-5f);
    double e_d = 0, e_n = 0;
    for (int i = 0; i < N * D; i++) {
        e_d = fmax(e_d, fabs(yf[i] - yd[i]) / (1e-6 + 1e-5 * fabs(yd[i])));
        e_n = fmax(e_n, fabs(yf[i] - yn[i]) / (1e-6 + 1e-5 * fabs(yn[i])));
    }
    printf("layernorm float: vs double %.2f, vs nn core %.2f of the tolerance 1e-6 + 1e-5|ref|\n",
           e_d, e_n);
    CHECK(e_d <= 1 && e_n <= 1);
    free(xd), free(yd), free(xf), free(yf), free(yn);
}

/* GELU with dropout of its output, then a residual add with a dropped branch */
enum { EW_N = 40 };
typedef struct ew_ctx {
    double x[EW_N], a[EW_N], w[EW_N];
    mae_drop dr;
} ew_ctx;

static double ew_loss(void *p)
{
    ew_ctx *c = p;
    double y[EW_N], z[EW_N];
    mae_gelu_fwd_d(y, c->x, EW_N, &c->dr);
    mae_residual_fwd_d(z, c->a, y, &c->dr, EW_N);
    return dot(z, c->w, EW_N);
}

static void test_elementwise(void)
{
    ew_ctx c;
    fill(c.x, EW_N, 3.0);
    fill(c.a, EW_N, 1.0);
    fill(c.w, EW_N, 1.0);
    c.dr = mae_drop_make(0.25f, 99);
    uint8_t keep[EW_N];
    mae_dropout_mask(keep, EW_N, &c.dr);
    int dropped = 0;
    for (int i = 0; i < EW_N; i++) dropped += !keep[i];
    CHECK_MSG(dropped > 0 && dropped < EW_N, "%d of %d dropped", dropped, EW_N);
    /* z = a + k*gelu(x)*k: dz/dx = w k^2 gelu'(x) (the same site twice) */
    double g[EW_N], da[EW_N];
    mae_dropout_apply_d(g, c.w, &c.dr, EW_N);
    mae_gelu_bwd_d(g, c.x, EW_N, &c.dr);
    for (int i = 0; i < EW_N; i++) da[i] = c.w[i];
    fd_check("gelu+dropout x", c.x, EW_N, g, ew_loss, &c);
    fd_check("residual a", c.a, EW_N, da, ew_loss, &c);

    /* float tanh-GELU (polynomial exp) vs double and vs the nn core */
    enum { N = 4099 };
    double *xd = malloc(sizeof(double) * N), *yd = malloc(sizeof(double) * N);
    double *gd = malloc(sizeof(double) * N);
    float *xf = malloc(sizeof(float) * N), *yf = malloc(sizeof(float) * N);
    float *yn = malloc(sizeof(float) * N), *gf = malloc(sizeof(float) * N);
    float *gn = malloc(sizeof(float) * N), *ones = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) xf[i] = (float)(-12.0 + 24.0 * i / (N - 1)), xd[i] = xf[i];
    for (int i = 0; i < N; i++) gd[i] = 1, gf[i] = 1, ones[i] = 1, gn[i] = 0;
    mae_gelu_fwd_d(yd, xd, N, NULL);
    mae_gelu_fwd(yf, xf, N, NULL);
    mae_gelu_bwd_d(gd, xd, N, NULL);
    mae_gelu_bwd(gf, xf, N, NULL);
    nn_gelu_forward(yn, xf, N, NN_GELU_TANH);
    nn_gelu_backward(gn, ones, xf, N, NN_GELU_TANH);
    /* forward: 1e-6 + 1e-5|ref|; backward 1e-5 + 1e-5|ref|: in float, 1 - t^2 near |t| = 1
     * carries an absolute rounding error of ~6e-8 that x (1 + 3c x^2) / 2 multiplies
     * by up to ~100 at |x| = 5..12 (the nn core and PyTorch's float kernel compute it
     * the same way) */
    double f_d = 0, f_n = 0, b_d = 0, b_n = 0;
    for (int i = 0; i < N; i++) {
        f_d = fmax(f_d, fabs(yf[i] - yd[i]) / (1e-6 + 1e-5 * fabs(yd[i])));
        f_n = fmax(f_n, fabs(yf[i] - yn[i]) / (1e-6 + 1e-5 * fabs(yn[i])));
        b_d = fmax(b_d, fabs(gf[i] - gd[i]) / (1e-5 + 1e-5 * fabs(gd[i])));
        b_n = fmax(b_n, fabs(gf[i] - gn[i]) / (1e-5 + 1e-5 * fabs(gn[i])));
    }
    printf("gelu float (x in [-12, 12]): forward vs double %.2f, vs nn core %.2f of 1e-6 + "
           "1e-5|ref|; backward %.2f, %.2f of 1e-5 + 1e-5|ref|\n", f_d, f_n, b_d, b_n);
    CHECK(f_d <= 1 && f_n <= 1 && b_d <= 1 && b_n <= 1);
    float nan_in = NAN, nan_out = 0;
    mae_gelu_fwd(&nan_out, &nan_in, 1, NULL);
    CHECK_MSG(isnan(nan_out), "gelu(NaN) must stay NaN");
    free(xd), free(yd), free(gd), free(xf), free(yf), free(yn), free(gf), free(gn), free(ones);
}

/* Multi-head self-attention */
enum { NSEQ = 3, NT = 5, DM = 6, NH = 2 };
typedef struct att_ctx {
    double qkv[NSEQ * NT * 3 * DM], w[NSEQ * NT * DM];
    const mae_drop *dr;
} att_ctx;

static double att_loss(void *p)
{
    att_ctx *c = p;
    double o[NSEQ * NT * DM], att[NSEQ * NH * NT * NT], work[NSEQ * NH * NT * NT];
    mae_mhsa_fwd_d(o, att, c->qkv, NSEQ, NT, DM, NH, c->dr, work);
    return dot(o, c->w, NSEQ * NT * DM);
}

static void test_attention(int dropout)
{
    att_ctx c;
    const mae_drop dr3 = mae_drop_make(0.3f, 5), dr2 = mae_drop_make(0.2f, 11);
    fill(c.qkv, NSEQ * NT * 3 * DM, 1.5);
    fill(c.w, NSEQ * NT * DM, 1.0);
    c.dr = dropout ? &dr3 : NULL;
    double o[NSEQ * NT * DM], att[NSEQ * NH * NT * NT], work[NSEQ * NH * NT * NT];
    double dqkv[NSEQ * NT * 3 * DM];
    mae_mhsa_fwd_d(o, att, c.qkv, NSEQ, NT, DM, NH, c.dr, work);
    mae_mhsa_bwd_d(dqkv, c.w, c.qkv, att, NSEQ, NT, DM, NH, c.dr, work);
    fd_check(dropout ? "attention+dropout" : "attention", c.qkv, NSEQ * NT * 3 * DM, dqkv,
             att_loss, &c);

    /* float vs double, and (without dropout) vs the nn core */
    enum { S = 4, T = 37, D = 32, H = 4 };
    const size_t nq = (size_t)S * T * 3 * D, no = (size_t)S * T * D, na = (size_t)S * H * T * T;
    double *qd = malloc(sizeof(double) * nq), *od = malloc(sizeof(double) * no);
    double *ad = malloc(sizeof(double) * na), *wd = malloc(sizeof(double) * na);
    double *gd = malloc(sizeof(double) * no), *dqd = malloc(sizeof(double) * nq);
    float *qf = malloc(sizeof(float) * nq), *of = malloc(sizeof(float) * no);
    float *af = malloc(sizeof(float) * na), *wf = malloc(sizeof(float) * na);
    float *gf = malloc(sizeof(float) * no), *dqf = malloc(sizeof(float) * nq);
    float *on = malloc(sizeof(float) * no), *an = malloc(sizeof(float) * na);
    float *dqn = calloc(nq, sizeof(float));
    const mae_drop *kk = dropout ? &dr2 : NULL;
    fill(qd, nq, 2.0);
    fill(gd, no, 1.0);
    to_float(qf, qd, nq);
    to_float(gf, gd, no);
    for (size_t i = 0; i < nq; i++) qd[i] = qf[i];
    for (size_t i = 0; i < no; i++) gd[i] = gf[i];
    mae_mhsa_fwd_d(od, ad, qd, S, T, D, H, kk, wd);
    mae_mhsa_bwd_d(dqd, gd, qd, ad, S, T, D, H, kk, wd);
    mae_mhsa_fwd(of, af, qf, S, T, D, H, kk, wf);
    mae_mhsa_bwd(dqf, gf, qf, af, S, T, D, H, kk, wf);
    double e_d = 0, e_n = 0;
    for (size_t i = 0; i < no; i++) e_d = fmax(e_d, fabs(of[i] - od[i]) / (1e-5 + 1e-4 * fabs(od[i])));
    for (size_t i = 0; i < nq; i++)
        e_d = fmax(e_d, fabs(dqf[i] - dqd[i]) / (1e-5 + 1e-4 * fabs(dqd[i])));
    if (!dropout) {
        nn_attn_dims dims = nn_attn_dims_packed(S, T, H, D / H);
        nn_attention_forward(on, an, NULL, qf, qf + D, qf + 2 * D, &dims);
        nn_attention_backward(dqn, dqn + D, dqn + 2 * D, gf, an, NULL, qf, qf + D, qf + 2 * D,
                              &dims);
        for (size_t i = 0; i < no; i++)
            e_n = fmax(e_n, fabs(of[i] - on[i]) / (1e-5 + 1e-4 * fabs(on[i])));
        for (size_t i = 0; i < nq; i++)
            e_n = fmax(e_n, fabs(dqf[i] - dqn[i]) / (1e-5 + 1e-4 * fabs(dqn[i])));
    }
    printf("attention float%s: vs double %.2f, vs nn core %.2f of the tolerance 1e-5 + 1e-4|ref|\n",
           dropout ? " (dropout 0.2)" : "", e_d, e_n);
    CHECK(e_d <= 1 && e_n <= 1);
    free(qd), free(od), free(ad), free(wd), free(gd), free(dqd), free(qf), free(of), free(af);
    free(wf), free(gf), free(dqf), free(on), free(an), free(dqn);
}

/* ---- split GEMM and column sums ---- */

static void test_gemm(void)
{
    const int shapes[][3] = {{1000, 48, 64}, {40, 900, 70}, {7, 5, 3}, {513, 130, 200}};
    double worst = 0;
    for (int sh = 0; sh < 4; sh++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++) {
                    const int M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
                    const CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
                    const CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
                    const int lda = ta ? M : K, ldb = tb ? K : N;
                    float *A = malloc(sizeof(float) * M * K), *Bm = malloc(sizeof(float) * K * N);
                    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
                    for (int i = 0; i < M * K; i++) A[i] = (float)urand();
                    for (int i = 0; i < K * N; i++) Bm[i] = (float)urand();
                    for (int i = 0; i < M * N; i++) C1[i] = C2[i] = (float)urand();
                    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 0.5f, A, lda, Bm, ldb, (float)beta,
                                C1, N);
                    mae_sgemm(TA, TB, M, N, K, 0.5f, A, lda, Bm, ldb, (float)beta, C2, N);
                    for (int i = 0; i < M * N; i++)
                        worst = fmax(worst, fabs(C2[i] - C1[i]) / (1e-5 + 1e-5 * fabs(C1[i])));
                    free(A), free(Bm), free(C1), free(C2);
                }
    printf("split GEMM vs one cblas_sgemm (all transposes, beta 0/1): %.2f of the tolerance "
           "1e-5 + 1e-5|ref|\n", worst);
    CHECK(worst <= 1);

    enum { N = 1000, C = 37 };
    float *x = malloc(sizeof(float) * N * C), s[C];
    double ref[C] = {0};
    for (int i = 0; i < N * C; i++) x[i] = (float)urand();
    for (int c = 0; c < C; c++) s[c] = 1;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) ref[c] += x[n * C + c];
    mae_colsum_acc(s, x, N, C);
    double e = 0;
    for (int c = 0; c < C; c++) e = fmax(e, fabs(s[c] - 1 - ref[c]));
    CHECK_MSG(e < 1e-4, "column sums off by %g", e);
    free(x);
}

/* ---- dropout masks ---- */

static void test_masks(void)
{
    enum { N = 400003 };
    uint8_t *a = malloc(N), *b = malloc(N);
    const float p = 0.1f;
    const uint64_t seed = nn_seed_mix(42, 7, 1);
    const mae_drop dr = mae_drop_make(p, seed), none = mae_drop_make(0.0f, seed);
#ifdef _OPENMP
    const int nt = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    mae_dropout_mask(a, N, &dr);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    mae_dropout_mask(b, N, &dr);
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    CHECK_MSG(memcmp(a, b, N) == 0, "dropout mask depends on the thread count");
    /* the documented hash, written out here */
    int64_t kept = 0, mismatch = 0;
    const uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
    for (int64_t i = 0; i < N; i++) {
        uint32_t h = (uint32_t)seed + (uint32_t)i * 0x9E3779B9U;
        h ^= h >> 16;
        h *= 0x7feb352dU;
        h ^= h >> 15;
        h *= 0x846ca68bU;
        h ^= h >> 16;
        mismatch += a[i] != ((h >> 16) >= thr);
        kept += a[i];
    }
    CHECK_MSG(mismatch == 0, "%lld mask bytes differ from the documented hash",
              (long long)mismatch);
    const double rate = 1.0 - (double)kept / N, sigma = sqrt(p * (1 - p) / N);
    printf("dropout 0.1: %.5f dropped of %d (limit |diff| < 6 sigma = %.5f); same mask on 1 and 2 "
           "threads\n", rate, N, 6 * sigma);
    CHECK(fabs(rate - p) < 6 * sigma);
    mae_dropout_mask(b, N, &none);
    int all = 1;
    for (int i = 0; i < N; i++) all &= b[i] == 1;
    CHECK_MSG(all, "rate 0 must keep everything");
    free(a), free(b);
}

int main(void)
{
    test_layernorm();
    test_elementwise();
    test_attention(0);
    test_attention(1);
    test_gemm();
    test_masks();
    return TEST_RESULT();
}
