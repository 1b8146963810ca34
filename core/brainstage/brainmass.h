/* brainstage/brainmass.h - the BrainMass brain-network foundation model.
 *
 * Tokens are the R rows of a functional-connectivity matrix (model width R).
 * An encoder of `depth` post-norm transformer layers is followed by a
 * per-token Linear(R->reduce_dim)+LeakyReLU readout flattened to reduce_dim*R
 * values: that vector is the subject embedding (8R by default).  Pretraining
 * combines BYOL-style latent alignment of two pFC views (predictor + EMA
 * target) with two masked-ROI tasks on view 1: regression (MSE) and
 * identification (InfoNCE).  See docs/brainmass.md for formulas, defaults
 * and deviations from the reference code.
 *
 * Parameters use the tensor names of the reference PyTorch state_dict
 * ("online_network.attention_list.0.self_attn.in_proj_weight", ...), so a
 * converted .pth (tools/pth2safetensors.py) loads directly. */
#ifndef BRAINSTAGE_BRAINMASS_H
#define BRAINSTAGE_BRAINMASS_H

#include <stdint.h>
#include <stddef.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_brainmass_config {
    int rois;          /* R: tokens per sample and model width (100) */
    int depth;         /* transformer layers (16) */
    int heads;         /* attention heads; must divide rois (10) */
    int ffn;           /* feed-forward width, also the cpred/gpred hidden width (2048) */
    int feature_dim;   /* F: projector / predictor output (1024) */
    int reduce_dim;    /* per-token readout width (8) */
    int mrm_mask;      /* ROIs masked for the regression task (5) */
    int nce_mask;      /* ROIs masked for the identification task (10) */
    double dropout;    /* transformer dropout probability (0.1) */
    double momentum;   /* EMA momentum of the target network (0.996) */
    double w_byol, w_nce, w_mse; /* loss weights (1, 0.1, 2) */
    double ln_eps, bn_eps, bn_momentum, leaky_slope; /* 1e-5, 1e-5, 0.1, 0.01 */
    int train_extras;  /* 1 (ours): mask/cls/dist tokens and cpred/gpred are
                        * optimised; 0: frozen at init, as in the reference */
} bs_brainmass_config;

void bs_brainmass_config_default(bs_brainmass_config *cfg);      /* paper shape */
void bs_brainmass_config_small(bs_brainmass_config *cfg, int rois); /* demo shape */
int bs_brainmass_config_validate(const bs_brainmass_config *cfg, bs_error *err);

typedef struct bs_brainmass bs_brainmass;

/* New model with PyTorch-default initialisation from `seed`; target = copy of online. */
bs_brainmass *bs_brainmass_new(const bs_brainmass_config *cfg, uint64_t seed, bs_error *err);
void bs_brainmass_free(bs_brainmass *m);
const bs_brainmass_config *bs_brainmass_get_config(const bs_brainmass *m);
int bs_brainmass_embed_dim(const bs_brainmass *m); /* reduce_dim * rois */

/* Checkpoints (safetensors).  load_mode BS_BRAINMASS_LOAD_INFERENCE needs only
 * the online encoder (online_network.* without g is enough); TRAINING needs
 * every tensor and restores optimizer state, step and RNG when present.
 * The config comes from __metadata__ or, if absent, from tensor shapes. */
enum { BS_BRAINMASS_LOAD_INFERENCE = 0, BS_BRAINMASS_LOAD_TRAINING = 1 };
bs_brainmass *bs_brainmass_load(const char *path, int load_mode, bs_error *err);
int bs_brainmass_save(const bs_brainmass *m, const char *path, bs_error *err);

/* Eval-mode embedding: fc [n, R, R] -> out [n, reduce_dim*R] (dropout off,
 * BatchNorm not involved).  Fails with BS_ERR_NUMERIC on non-finite input. */
int bs_brainmass_embed(bs_brainmass *m, const float *fc, int64_t n, float *out, bs_error *err);
/* Eval-mode projector output g(embedding) [n, F] (BatchNorm running stats). */
int bs_brainmass_project(bs_brainmass *m, const float *fc, int64_t n, float *out, bs_error *err);

/* Eval-mode outputs for interpretation (docs/brainmass.md); every pointer
 * may be NULL (not computed):
 *   embedding [n, reduce_dim*R]  as bs_brainmass_embed: the per-ROI readout,
 *             row-major [n, R, reduce_dim] flattened
 *   tokens    [n, R, R]          final encoder tokens (the encoder output
 *             before the readout; row i = ROI i)
 *   attention [n, depth, heads, R, R] attention weights (softmax over keys,
 *             rows = queries) of every layer and head, or [n, depth, R, R]
 *             averaged over heads when average_heads != 0 */
typedef struct bs_brainmass_outputs {
    float *embedding;
    float *tokens;
    float *attention;
    int average_heads;
} bs_brainmass_outputs;
int bs_brainmass_infer(bs_brainmass *m, const float *fc, int64_t n, const bs_brainmass_outputs *out,
                       bs_error *err);

typedef struct bs_brainmass_losses {
    double total, byol, nce, mse, nce_acc;
} bs_brainmass_losses;

/* One step's forward + backward: zeroes and fills the gradients.  views
 * [batch, R, R]; mrm_idx [batch*mrm_mask] and nce_idx [batch*nce_mask] give
 * the masked ROIs per sample (distinct, in [0,R)); NULL = drawn from the
 * model's RNG.  Updates BatchNorm running statistics like a torch train step. */
int bs_brainmass_compute_grads(bs_brainmass *m, const float *view1, const float *view2, int batch,
                               const int32_t *mrm_idx, const int32_t *nce_idx,
                               bs_brainmass_losses *out, bs_error *err);
/* Gradient value clipping (|g| <= clip, 0 = off), AdamW at lr, EMA target update. */
void bs_brainmass_apply_update(bs_brainmass *m, double lr, double weight_decay, double clip);
int64_t bs_brainmass_step_count(const bs_brainmass *m);

/* Named parameter access (tests, converters).  Index over every tensor the
 * checkpoint holds (online, target, predictor, extras, BatchNorm buffers). */
typedef struct bs_brainmass_tensor {
    const char *name;
    int ndim;
    int64_t shape[3];
    float *data;   /* NULL for num_batches_tracked (see count) */
    float *grad;   /* NULL when not a trainable parameter */
    int64_t *count;/* num_batches_tracked, else NULL */
} bs_brainmass_tensor;
int bs_brainmass_tensor_count(const bs_brainmass *m);
int bs_brainmass_tensor_get(const bs_brainmass *m, int index, bs_brainmass_tensor *out);
int bs_brainmass_tensor_find(const bs_brainmass *m, const char *name, bs_brainmass_tensor *out);

/* ---- pretraining driver ---- */

/* Fills view1/view2 [batch, R, R] with two pFC views per subject. */
typedef int (*bs_brainmass_batch_fn)(void *user, int64_t step, int batch, int rois,
                                     float *view1, float *view2, bs_error *err);

typedef struct bs_brainmass_train_config {
    bs_brainmass_config model;
    int batch;                /* 64 in the reference */
    int64_t steps;            /* total optimizer steps (including resumed ones) */
    double lr, weight_decay;  /* AdamW, 3e-4 and 5e-5 */
    int64_t warmup_steps;     /* linear warm-up, then constant (reference) */
    int cosine;               /* 1: cosine decay to min_lr after warm-up */
    double min_lr;
    double clip;              /* gradient value clipping (1.0) */
    uint64_t seed;
    const char *checkpoint;   /* final checkpoint path (required) */
    int64_t checkpoint_every; /* also write it every N steps (0 = only at end) */
    const char *loss_log;     /* TSV path or NULL */
    const char *resume;       /* checkpoint to resume from, or NULL */
    const char *init_weights; /* start from these weights (fresh optimizer), or NULL */
} bs_brainmass_train_config;

void bs_brainmass_train_config_default(bs_brainmass_train_config *tc);
int bs_brainmass_pretrain(const bs_brainmass_train_config *tc, bs_brainmass_batch_fn provider,
                          void *user, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
