/* core/brainmae/model_internal.h - the bs_brainmae struct shared by the files
 * of core/brainmae/ (model, training, checkpoints, inference). */
#ifndef BRAINMAE_MODEL_INTERNAL_H
#define BRAINMAE_MODEL_INTERNAL_H

#include "brainstage/brainmae.h"
#include "ops.h"

#define MAE_MAX_BLOCKS 16
#define MAE_MAX_PARAMS 512

enum { MAE_RA = 0, MAE_SA = 1 };

/* Offsets of one block's parameters in the flat buffer (unused = 0). */
typedef struct mae_block {
    int kind;
    size_t ln1_g, ln1_b, wq, wk, wv, wv_b, qkv, qkv_b, proj, proj_b;
    size_t ln2_g, ln2_b, fc1, fc1_b, fc2, fc2_b;
} mae_block;

/* Saved activations of one block over N = nseq * n tokens. */
typedef struct mae_cache {
    float *x_in, *u1, *mean1, *rstd1, *v, *att, *o, *x_mid, *u2, *mean2, *rstd2, *f1, *f1g;
    float *q, *k, *alpha; /* region-aware blocks: R x dk, R x dk, R x R */
    /* dropout sites of the last forward (masks are recomputed from these):
     * attention probabilities (self-attention blocks), attention branch,
     * FFN hidden layer, FFN branch */
    mae_drop drop_att, drop1, dropf, drop2;
} mae_cache;

struct bs_brainmae {
    bs_brainmae_config cfg;
    int n_par;
    bs_brainmae_param par[MAE_MAX_PARAMS];
    char *names[MAE_MAX_PARAMS];
    size_t n;          /* total floats */
    float *params, *grads, *adam_m, *adam_v;
    int64_t step;

    /* parameter offsets */
    size_t roi_embed, mask_token, in_w, in_b, enc_norm_g, enc_norm_b, seg_w, seg_b, cls, pos;
    size_t tnorm_g, tnorm_b, ctx_w, ctx_b, dnorm_g, dnorm_b, out_w, out_b;
    mae_block enc[MAE_MAX_BLOCKS], tmp[MAE_MAX_BLOCKS], dec[MAE_MAX_BLOCKS];

    /* activations of the last forward (batch capacity cap_batch) */
    int cap_batch, batch;
    float *arena;
    float *x;            /* (B,S,R,tau) */
    uint8_t *hide, *lmask, *valid; /* (B,S,R) hidden, (B,S,R) masked, (B,R) */
    mae_cache enc_c[MAE_MAX_BLOCKS], tmp_c[MAE_MAX_BLOCKS], dec_c[MAE_MAX_BLOCKS];
    float *enc_out, *z, *zmean, *zrstd, *pooled, *t0, *t_out, *tf, *tmean, *trstd, *segemb, *ctx;
    float *dec_out_x, *yf, *ymean, *yrstd, *recon;
    float *cls_out;
    float *scratch_a, *scratch_b, *scratch_c, *scratch_d, *scratch_ra;
    float *att_work;     /* per-(sequence, head) attention scratch */
    int dropped;         /* the last forward applied dropout */
    float loss;
};

#endif
