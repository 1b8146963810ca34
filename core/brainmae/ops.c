/* core/brainmae/ops.c - BrainMAE's dense ops as thin adapters over the
 * shared nn core (brainstage/nn.h): linear, LayerNorm (eps 1e-5), tanh-GELU
 * and packed multi-head self-attention.  Only the region-aware graph
 * attention (region_attention.c) is BrainMAE's own op. */
#include "ops.h"

#include <string.h>

#include "brainstage/nn.h"

void mae_linear_fwd(float *out, const float *in, const float *W, const float *b, int64_t N,
                    int i, int o)
{
    nn_linear_forward(out, in, W, b, (int)N, i, o);
}

void mae_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                    const float *W, int64_t N, int i, int o)
{
    nn_linear_backward(din, dW, db, dout, in, W, (int)N, i, o);
}

void mae_layernorm_fwd(float *out, float *mean, float *rstd, const float *in, const float *g,
                       const float *b, int64_t N, int d)
{
    nn_layernorm_forward(out, mean, rstd, in, g, b, (int)N, d, 1e-5f);
}

void mae_layernorm_bwd(float *din, float *dg, float *db, const float *dout, const float *in,
                       const float *mean, const float *rstd, const float *g, int64_t N, int d)
{
    nn_layernorm_backward(din, dg, db, dout, in, mean, rstd, g, (int)N, d);
}

void mae_gelu_fwd(float *out, const float *in, int64_t n)
{
    nn_gelu_forward(out, in, (size_t)n, NN_GELU_TANH);
}

void mae_gelu_bwd(float *din, const float *dout, const float *in, int64_t n)
{
    nn_gelu_backward(din, dout, in, (size_t)n, NN_GELU_TANH);
}

void mae_add(float *y, const float *x, int64_t n)
{
    nn_accumulate(y, x, (size_t)n);
}

void mae_mhsa_fwd(float *o, float *att, const float *qkv, int64_t nseq, int n, int d, int nh)
{
    nn_attn_dims dims = nn_attn_dims_packed((int)nseq, n, nh, d / nh);
    nn_attention_forward(o, att, NULL, qkv, qkv + d, qkv + 2 * d, &dims);
}

void mae_mhsa_bwd(float *dqkv, const float *dout, const float *qkv, const float *att,
                  int64_t nseq, int n, int d, int nh)
{
    nn_attn_dims dims = nn_attn_dims_packed((int)nseq, n, nh, d / nh);
    memset(dqkv, 0, sizeof(float) * (size_t)(nseq * n * 3 * d));
    nn_attention_backward(dqkv, dqkv + d, dqkv + 2 * d, dout, att, NULL, qkv, qkv + d, qkv + 2 * d,
                          &dims);
}
