/* core/brainmass/bm_internal.h - private layout of the BrainMass model and
 * the small tensor ops its forward/backward passes are built from. */
#ifndef BRAINSTAGE_BM_INTERNAL_H
#define BRAINSTAGE_BM_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "brainstage/brainmass.h"
#include "brainstage/rng.h"

/* Offsets (in floats) of one encoder layer's tensors inside a parameter block. */
typedef struct bm_layer_off {
    size_t in_w, in_b, out_w, out_b, l1_w, l1_b, l2_w, l2_b, n1_w, n1_b, n2_w, n2_b;
} bm_layer_off;

/* Offsets of Linear -> BatchNorm -> ReLU -> Linear. */
typedef struct bm_head_off {
    size_t w0, b0, bn_w, bn_b, w3, b3;
    int n_in, n_hidden, n_out;
} bm_head_off;

/* Offsets of Linear -> LeakyReLU -> Linear (cpred / gpred). */
typedef struct bm_mlp_off {
    size_t w0, b0, w2, b2;
} bm_mlp_off;

/* BatchNorm running statistics (buffers, not parameters). */
typedef struct bm_bn_stats {
    float *mean, *var;
    int64_t count;
} bm_bn_stats;

enum { BM_KIND_PARAM = 0, BM_KIND_TARGET = 1, BM_KIND_BN_MEAN = 2, BM_KIND_BN_VAR = 3, BM_KIND_BN_COUNT = 4 };

typedef struct bm_entry {
    char name[112];
    int ndim;
    int64_t shape[3];
    int kind;
    size_t offset;   /* into params/target (kind PARAM/TARGET) */
    size_t numel;
    bm_bn_stats *bn; /* BN kinds */
    int trainable_extra; /* 1 for tokens and cpred/gpred */
    int no_decay;        /* 1 for biases and norm weights (only used when decay_all == 0) */
} bm_entry;

/* Activations of one encoder layer kept for the backward pass. */
typedef struct bm_layer_cache {
    float *x;      /* [N, d] layer input */
    float *qkv;    /* [N, 3d] */
    float *prob;   /* [B, H, T, T] softmax before dropout */
    float *ctx;    /* [N, d] attention output before out_proj */
    float *s1;     /* [N, d] x + attention (LayerNorm1 input) */
    float *h1;     /* [N, d] LayerNorm1 output */
    float *s2;     /* [N, d] h1 + FFN (LayerNorm2 input) */
    float *mean1, *rstd1, *mean2, *rstd2; /* [N] */
    float *u;      /* [N, ffn] ReLU output before dropout */
} bm_layer_cache;

/* scratch: 0,1 [N,ffn]; 2 [N,3d]; 3,4,5 [N,d]; 6 head scratch; 7..10 [B,F] */
#define BM_N_TMP 11

typedef struct bm_head_cache {
    float *x;      /* [B, n_in] */
    float *xhat;   /* [B, n_hidden] */
    float *rstd;   /* [n_hidden] */
    float *r;      /* [B, n_hidden] ReLU output */
} bm_head_cache;

struct bs_brainmass {
    bs_brainmass_config cfg;
    int decay_all;         /* 1: weight decay on every tensor (torch AdamW default, reference) */
    size_t n_params;       /* floats in params/grads/adam */
    size_t n_online;       /* leading floats that form online_network (EMA block) */
    float *params, *grads, *adam_m, *adam_v;
    float *target;         /* [n_online] */
    bm_layer_off *layers;  /* depth entries, offsets valid in params and target */
    size_t red_w, red_b;   /* dim_reduction.0 */
    bm_head_off g, pred;
    size_t mask_embed, cls_token, dist_token;
    bm_mlp_off cpred, gpred;
    bm_bn_stats bn_online, bn_target, bn_pred;
    bm_entry *entries;
    int n_entries;
    int64_t step;          /* optimizer steps taken */
    uint64_t seed;
    bs_rng *rng;           /* masks */
    float *pos_table;      /* [(R+2), R] */
    /* workspace, sized for the largest batch seen */
    int ws_batch;
    bm_layer_cache *cache; /* depth entries */
    float *ws_tmp[BM_N_TMP];
    size_t ws_tmp_n[BM_N_TMP];
    bm_head_cache hc_g, hc_pred;
};

/* ---- ops (bm_ops.c) ---- */

/* OpenBLAS to one thread for the duration of a call (returns the previous count). */
int bm_blas_single(void);
void bm_blas_restore(int prev);
/* y[n,out] = x[n,in] W[out,in]^T + b */
void bm_linear_fwd(const float *x, const float *w, const float *b, float *y, int n, int in, int out);
/* dx = dy W (dx may be NULL; accumulate if acc_dx), dW += dy^T x, db += colsum dy. */
void bm_linear_bwd(const float *dy, const float *x, const float *w, float *dx, float *dw, float *db,
                   int n, int in, int out, int acc_dx);
void bm_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *mean,
                      float *rstd, int n, int d, float eps);
/* dx (overwritten) from dy, using y's normalised values recovered from x. */
void bm_layernorm_bwd(const float *dy, const float *x, const float *mean, const float *rstd,
                      const float *g, float *dx, float *dg, float *db, int n, int d);
/* Multi-head attention core on packed qkv [B*T, 3d] -> ctx [B*T, d]; prob kept. */
void bm_attention_fwd(const float *qkv, float *prob, float *ctx, int B, int T, int d, int H,
                      float p_drop, uint64_t drop_key);
void bm_attention_bwd(const float *dctx, const float *qkv, const float *prob, float *dqkv,
                      int B, int T, int d, int H, float p_drop, uint64_t drop_key);
/* In-place inverted dropout: x *= keep/(1-p), keep decided by hash(key, i). */
void bm_dropout(float *x, size_t n, float p, uint64_t key);
/* Keep decision for element i of the dropout stream `key`: a counter-based
 * hash (splitmix64 finaliser) of i/4 gives 16 random bits per element, so the
 * same mask is regenerated in backward and does not depend on threads.
 * p is resolved to 1/65536. */
static inline int bm_dropout_keep(uint64_t key, uint64_t i, float p)
{
    uint64_t h = key + (i >> 2) * 0xd1b54a32d192ed03ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    uint32_t bits = (uint32_t)(h >> (16 * (i & 3))) & 0xffffu;
    return bits >= (uint32_t)(p * 65536.0f + 0.5f);
}
uint64_t bm_key(uint64_t a, uint64_t b);

/* ---- model internals ---- */
int bm_workspace(bs_brainmass *m, int batch, bs_error *err);
int bm_check_finite(const float *x, size_t n, const char *what, bs_error *err);
/* Encoder layers (train = dropout on, caches filled). */
void bm_encoder_fwd(bs_brainmass *m, const float *P, float *x, int B, int T, int train, uint64_t key);
void bm_encoder_bwd(bs_brainmass *m, const float *P, float *G, float *dout, int B, int T, uint64_t key);

#endif
