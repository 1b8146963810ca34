/* core/brainmae/ops.h - the dense transformer ops of BrainMAE, forward and
 * backward on row-major buffers: linear (BLAS through par.h's split GEMM),
 * and the fused ops of layer_ops.c (LayerNorm, tanh-GELU, residual add and
 * dropout, multi-head self-attention), each also in double (suffix _d) for
 * the finite-difference checks.  Private to core/brainmae/.
 *
 * Conventions: parameter gradients ACCUMULATE (callers zero them once per
 * step); input gradients overwrite unless an `accumulate` flag says
 * otherwise.  A dropout site is a mae_drop (NULL = no dropout); the factor
 * of element i, keep(i) / (1 - p), is recomputed from a hash of (seed, i)
 * wherever it is needed, so masks are never stored and do not depend on the
 * thread count. */
#ifndef BRAINMAE_MAE_OPS_H
#define BRAINMAE_MAE_OPS_H

#include <stdint.h>

/* Hot loops get AVX-512 and AVX2 clones picked at load time (the baseline
 * x86-64 build only has SSE2).  no-trapping-math lets the vectoriser
 * if-convert the range checks of the polynomial exp (it never changes a
 * value); without it no exp or tanh loop vectorises. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MAE_HOT                                                  \
    __attribute__((target_clones("avx512f", "avx2", "default"), \
                   optimize("vect-cost-model=dynamic", "no-trapping-math"), noinline))
#else
#define MAE_HOT
#endif

/* ---- dropout: element i of a site is dropped when the top 16 bits of
 * mae_mix32((uint32)seed + i * MAE_DROP_STEP) (mod 2^32) are below
 * round(p * 65536), so the rate is quantised to 1/65536 and tensors must
 * have fewer than 2^32 elements. ---- */
typedef struct mae_drop {
    uint32_t key, thr; /* low 32 bits of the site seed; round(p * 65536) */
    float scale;       /* 1 / (1 - p) */
} mae_drop;

#define MAE_DROP_STEP 0x9E3779B9U

/* Bijective 32-bit mixer (the "lowbias32" constants of Chris Wellons'
 * hash-prospector): 32-bit multiplies only, so mask loops vectorise with
 * AVX2 as well as AVX-512. */
static inline uint32_t mae_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline mae_drop mae_drop_make(float p, uint64_t seed)
{
    mae_drop d = {(uint32_t)seed, (uint32_t)(p * 65536.0 + 0.5), 1.0f / (1.0f - p)};
    return d;
}

/* The keep mask of a site's first n elements as 0/1 bytes (tests and the
 * PyTorch cross-check; the ops never materialise it). */
void mae_dropout_mask(uint8_t *keep, int64_t n, const mae_drop *dr);

/* out[N,o] = in[N,i] W[o,i]^T + b[o] (b may be NULL). */
void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                    int i, int o);
/* din = (accumulate ? din : 0) + dout W (din may be NULL); dW += dout^T in;
 * db += column sums of dout (db may be NULL). */
void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                    const float *W, int64_t N, int i, int o, int accumulate);

/* dr (may be NULL: no dropout) drops the elements named. */
#define MAE_DECLARE_OPS(REAL, SFX)                                                             \
    /* LayerNorm over the last axis (eps 1e-5); mean/rstd[N] are saved. */                    \
    void mae_layernorm_fwd##SFX(REAL *y, REAL *mean, REAL *rstd, const REAL *x, const REAL *g, \
                                const REAL *b, int64_t N, int d);                              \
    /* dx = (accumulate ? dx : 0) + dL/dx; dg, db accumulate. */                               \
    void mae_layernorm_bwd##SFX(REAL *dx, REAL *dg, REAL *db, const REAL *dy, const REAL *x,   \
                                const REAL *mean, const REAL *rstd, const REAL *g, int64_t N,  \
                                int d, int accumulate);                                        \
    /* y = drop(gelu(x)) (tanh form, PyTorch approximate="tanh"). */                           \
    void mae_gelu_fwd##SFX(REAL *y, const REAL *x, int64_t n, const mae_drop *dr);             \
    /* g *= gelu'(x) * k, in place (x: the forward input; k the dropout factor). */            \
    void mae_gelu_bwd##SFX(REAL *g, const REAL *x, int64_t n, const mae_drop *dr);             \
    /* y = a + drop(b) (y may alias a or b). */                                                \
    void mae_residual_fwd##SFX(REAL *y, const REAL *a, const REAL *b, const mae_drop *dr,      \
                               int64_t n);                                                     \
    /* y = drop(x) (dr required; y may alias x). */                                            \
    void mae_dropout_apply##SFX(REAL *y, const REAL *x, const mae_drop *dr, int64_t n);        \
    /* Multi-head self-attention over nseq sequences of n tokens: qkv (nseq, n, 3d) packed    \
     * [q | k | v], heads split d; att (nseq, nh, n, n) receives the softmax probabilities   \
     * (before dropout, kept for backward); dr drops elements of that tensor; work           \
     * (nseq*nh*n*n) is scratch; o (nseq, n, d) is overwritten. */                           \
    void mae_mhsa_fwd##SFX(REAL *o, REAL *att, const REAL *qkv, int64_t nseq, int n, int d,    \
                           int nh, const mae_drop *dr, REAL *work);                            \
    /* dqkv (nseq, n, 3d) is overwritten; work as in forward. */                              \
    void mae_mhsa_bwd##SFX(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att,     \
                           int64_t nseq, int n, int d, int nh, const mae_drop *dr,             \
                           REAL *work);

MAE_DECLARE_OPS(float, )
MAE_DECLARE_OPS(double, _d)
#undef MAE_DECLARE_OPS

#endif
