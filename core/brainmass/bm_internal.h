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

/* Activations of one encoder layer kept for the backward pass (filled by
 * bm_encoder_fwd; batch-wide arrays, rows b*T .. b*T+T-1 belong to sample b). */
typedef struct bm_layer_cache {
    float *x;      /* [N, d] layer input */
    float *qkv;    /* [N, 3d] */
    float *prob;   /* [B, H, T, T] softmax before dropout */
    uint8_t *adrop;/* [B, H, T, T] attention-dropout keep mask (when dropout > 0) */
    float *ctx;    /* [N, d] attention output before out_proj */
    float *s1;     /* [N, d] x + Drop(attention) (LayerNorm1 input) */
    uint8_t *drop1;/* [N, d] keep mask of that dropout */
    float *h1;     /* [N, d] LayerNorm1 output */
    float *s2;     /* [N, d] h1 + Drop(FFN) (LayerNorm2 input) */
    uint8_t *drop2;/* [N, d] */
    float *mean1, *rstd1, *mean2, *rstd2; /* [N] */
    float *u;      /* [N, ffn] Drop(ReLU(linear1)): linear2's input */
} bm_layer_cache;

/* scratch: 0,1 [N,ffn]; 2 [N,3d]; 3,4,5 [N,d]; 6 head scratch; 7..10 [B,F];
 * 11 [B*max(mrm_mask,nce_mask), ffn] masked-ROI head */
#define BM_N_TMP 12

/* Cache of Linear -> BatchNorm1d -> ReLU -> Linear (input in x). */
typedef struct bm_head_cache {
    float *x;      /* [B, n_in] */
    float *y1;     /* [B, n_hidden] first Linear's output (BatchNorm input) */
    float *mean, *rstd; /* [n_hidden] batch statistics */
    float *r;      /* [B, n_hidden] ReLU(BatchNorm) */
} bm_head_cache;

/* Per-thread scratch of the activation-free encoder (bm_encoder_infer), for
 * BM_INFER_CHUNK samples of up to R+2 tokens. */
#define BM_INFER_CHUNK 4
/* FFN hidden columns per block in bm_encoder_infer */
#define BM_FFN_BLOCK 512
typedef struct bm_infer_ws {
    float *x, *qkv, *ctx, *s, *h, *u, *att;
    uint8_t *mask;
} bm_infer_ws;

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
    /* masked-ROI passes: mask flags [B*R], row indices [3*B*mk], logits,
     * probabilities and their gradient [3*B*mk*mk] (mk = larger mask count) */
    uint8_t *ws_masked;
    int32_t *ws_rows;
    float *ws_logits;
    /* encoder threading: layer tensors occupy [0, enc_end) of a parameter
     * block; threads 1.. of the backward accumulate into gpriv[t-1] */
    size_t enc_end;
    int ws_threads;
    float **gpriv;
    float enc_p;           /* dropout of the last bm_encoder_fwd (its backward uses it) */
    bm_infer_ws *iws;      /* iws_threads entries */
    int iws_threads;
    /* eval scratch (bm_infer_workspace): BM_EVAL_BLOCK samples */
    float *eval_tok;       /* [blk, R, R] final tokens */
    float *eval_z;         /* [blk, E] readout */
    float *eval_h1, *eval_h2; /* [blk, 2E] projector hidden */
};
#define BM_EVAL_BLOCK 64

/* ---- threads (bm_encoder.c) ---- */

/* OpenBLAS to one thread for the duration of a model call (returns the
 * previous count): the model's parallelism is OpenMP over samples, and each
 * thread calls single-threaded BLAS on its own rows. */
int bm_blas_single(void);
void bm_blas_restore(int prev);
/* Seed of dropout site `site` of layer `l` for sample `b` (independent of
 * how samples are split between threads). */
uint64_t bm_seed(uint64_t key, int l, int site, int b);
/* Mixes two 64-bit values into a seed (splitmix64). */
uint64_t bm_key(uint64_t a, uint64_t b);

/* ---- model internals ---- */
int bm_workspace(bs_brainmass *m, int batch, bs_error *err);
int bm_infer_workspace(bs_brainmass *m, bs_error *err);
/* Every one of n values finite, else an error naming the element. */
int bm_check_finite(const float *x, size_t n, const char *what, bs_error *err);
/* Every value of n R x R matrices finite, else an error naming matrix, row, column. */
int bm_check_finite_fc(const float *x, int64_t n, int R, const char *what, bs_error *err);
/* Encoder layers with activations saved for bm_encoder_bwd: input in
 * m->cache[0].x [B,T,R], output in m->cache[depth].x.  train = dropout on
 * (cfg.dropout), else off.  Needs bm_workspace(m, >= B). */
void bm_encoder_fwd(bs_brainmass *m, const float *P, float *unused, int B, int T, int train, uint64_t key);
/* Gradient of the last bm_encoder_fwd: dY in TMP(3) on entry, dX in TMP(3)
 * on return; parameter gradients accumulate into G (same layout as P).
 * The dropout masks are the forward's (stored), so `key` is not used. */
void bm_encoder_bwd(bs_brainmass *m, const float *P, float *G, float *unused, int B, int T, uint64_t key);
/* Encoder forward that saves nothing (eval, target passes): in [B,T,R] ->
 * out [B,T,R] (may not alias), dropout p.  att (or NULL) receives the
 * attention probabilities [B, depth, H, T, T], or their head means
 * [B, depth, T, T] when att_mean.  Needs bm_infer_workspace. */
void bm_encoder_infer(bs_brainmass *m, const float *P, const float *in, float *out, int B, int T,
                      float p, uint64_t key, float *att, int att_mean);

#endif
