/* core/brainmae/ops.h - the dense transformer ops BrainMAE needs (linear,
 * LayerNorm, tanh-GELU, multi-head self-attention), forward and backward on
 * float32 row-major buffers, delegated to the nn core.  Private to core/brainmae/.
 *
 * Convention: every backward ACCUMULATES into parameter gradients and into
 * the input gradient (callers zero them), so residual branches add up
 * without extra copies. */
#ifndef BRAINMAE_MAE_OPS_H
#define BRAINMAE_MAE_OPS_H

#include <stdint.h>

/* out[N,o] = in[N,i] W[o,i]^T + b[o] (b may be NULL). */
void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                   int i, int o);
/* din += dout W; dW += dout^T in; db += column sums of dout (din/db may be NULL). */
void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int64_t N, int i, int o);

/* LayerNorm over the last axis (eps 1e-5); mean/rstd[N] are saved. */
void mae_layernorm_fwd(float *out, float *mean, float *rstd, const float *in, const float *g,
                      const float *b, int64_t N, int d);
void mae_layernorm_bwd(float *din, float *dg, float *db, const float *dout, const float *in,
                      const float *mean, const float *rstd, const float *g, int64_t N, int d);

/* GELU, tanh approximation (PyTorch approximate="tanh"). */
void mae_gelu_fwd(float *out, const float *in, int64_t n);
void mae_gelu_bwd(float *din, const float *dout, const float *in, int64_t n); /* din += */

/* Multi-head attention over nseq independent sequences of n tokens:
 * qkv (nseq, n, 3d) packed [q | k | v], heads split d; att (nseq, nh, n, n)
 * softmax probabilities saved; o (nseq, n, d). */
void mae_mhsa_fwd(float *o, float *att, const float *qkv, int64_t nseq, int n, int d, int nh);
/* dqkv (nseq, n, 3d) is overwritten. */
void mae_mhsa_bwd(float *dqkv, const float *dout, const float *qkv, const float *att,
                 int64_t nseq, int n, int d, int nh);

void mae_add(float *y, const float *x, int64_t n); /* y += x */

#endif
