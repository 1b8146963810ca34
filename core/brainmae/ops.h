/* core/brainmae/ops.h - the dense transformer ops of BrainMAE, forward and
 * backward on row-major buffers: linear (BLAS through par.h's split GEMM),
 * and the fused ops of layer_ops.c (LayerNorm, tanh-GELU, residual add and
 * dropout, multi-head self-attention), each also in double (suffix _d) for
 * the finite-difference checks.  Private to core/brainmae/.
 *
 * Conventions: parameter gradients ACCUMULATE (callers zero them once per
 * step); input gradients overwrite unless an `accumulate` flag says
 * otherwise.  keep (0/1 bytes, may be NULL = no dropout) and scale =
 * 1/(1-p) give the dropout factor keep * scale of inverted dropout. */
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

/* out[N,o] = in[N,i] W[o,i]^T + b[o] (b may be NULL). */
void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                    int i, int o);
/* din = (accumulate ? din : 0) + dout W (din may be NULL); dW += dout^T in;
 * db += column sums of dout (db may be NULL). */
void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                    const float *W, int64_t N, int i, int o, int accumulate);

#define MAE_DECLARE_OPS(REAL, SFX)                                                              \
    /* LayerNorm over the last axis (eps 1e-5); mean/rstd[N] are saved. */                     \
    void mae_layernorm_fwd##SFX(REAL *y, REAL *mean, REAL *rstd, const REAL *x, const REAL *g,  \
                                const REAL *b, int64_t N, int d);                               \
    /* dx = (accumulate ? dx : 0) + dL/dx; dg, db accumulate. */                                \
    void mae_layernorm_bwd##SFX(REAL *dx, REAL *dg, REAL *db, const REAL *dy, const REAL *x,    \
                                const REAL *mean, const REAL *rstd, const REAL *g, int64_t N,   \
                                int d, int accumulate);                                         \
    /* y = gelu(x) * keep * scale (tanh form, PyTorch approximate="tanh"). */                   \
    void mae_gelu_fwd##SFX(REAL *y, const REAL *x, int64_t n, const uint8_t *keep, REAL scale); \
    /* g *= gelu'(x) * keep * scale, in place (x: the forward input). */                        \
    void mae_gelu_bwd##SFX(REAL *g, const REAL *x, int64_t n, const uint8_t *keep, REAL scale); \
    /* y = a + b * keep * scale (y may alias a or b). */                                        \
    void mae_residual_fwd##SFX(REAL *y, const REAL *a, const REAL *b, const uint8_t *keep,      \
                               REAL scale, int64_t n);                                          \
    /* y = x * keep * scale (keep required; y may alias x). */                                  \
    void mae_dropout_apply##SFX(REAL *y, const REAL *x, const uint8_t *keep, REAL scale,        \
                                int64_t n);                                                     \
    /* Multi-head self-attention over nseq sequences of n tokens: qkv (nseq, n, 3d) packed     \
     * [q | k | v], heads split d; att (nseq, nh, n, n) receives the softmax probabilities    \
     * (before dropout, kept for backward); keep (nseq, nh, n, n) drops probabilities; work   \
     * (nseq*nh*n*n) is scratch; o (nseq, n, d) is overwritten. */                            \
    void mae_mhsa_fwd##SFX(REAL *o, REAL *att, const REAL *qkv, int64_t nseq, int n, int d,     \
                           int nh, const uint8_t *keep, REAL scale, REAL *work);                \
    /* dqkv (nseq, n, 3d) is overwritten; work as in forward. */                               \
    void mae_mhsa_bwd##SFX(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att,      \
                           int64_t nseq, int n, int d, int nh, const uint8_t *keep, REAL scale, \
                           REAL *work);

MAE_DECLARE_OPS(float, )
MAE_DECLARE_OPS(double, _d)
#undef MAE_DECLARE_OPS

/* Dropout keep mask of n elements, a pure function of (seed, index) so it
 * does not depend on the thread count: element i is dropped when 16-bit
 * lane i % 4 of splitmix64(seed + (i / 4) * 0x9e3779b97f4a7c15) is below
 * round(p * 65536) (the rate is quantised to 1/65536).  p in [0, 1). */
void mae_dropout_mask(uint8_t *keep, int64_t n, float p, uint64_t seed);

#endif
