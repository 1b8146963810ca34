/* brainstage/brainmass_finetune.h - fine-tuning a BrainMass encoder with a
 * classifier head.
 *
 * The model is the pretrained encoder (transformer layers over FC rows and
 * the per-token Linear(R->8)+LeakyReLU readout, flattened to 8R) followed
 * by the fine-tune head of MODELS.md:
 *   8R -> H1 -> BatchNorm1d -> LeakyReLU -> Dropout -> H2 -> BatchNorm1d
 *      -> LeakyReLU -> Dropout -> classes
 * (H1 = 256, H2 = 32, dropout 0.3), trained with mean cross-entropy and
 * AdamW.  Gradients flow into the encoder unless it is frozen; the encoder
 * (layers and readout) has its own learning rate.  Training inputs are FC
 * matrices, by default a fresh pFC view per run and epoch (the augmentation
 * BrainMass was pretrained with); evaluation uses the full-run FC.
 *
 * Deterministic for a seed and thread count.  Saved as safetensors with
 * PyTorch-style names: online_network.attention_list.*,
 * online_network.dim_reduction.0.* (the encoder, loadable by
 * bs_brainmass_load for embeddings) and classifier.net.{0,1,4,5,8}.* (the
 * head, an nn.Sequential).  See docs/heads.md ("Fine-tuning BrainMass"). */
#ifndef BRAINSTAGE_BRAINMASS_FINETUNE_H
#define BRAINSTAGE_BRAINMASS_FINETUNE_H

#include <stdint.h>
#include "brainstage/brainmass.h"
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_finetune_augment {
    BS_FINETUNE_AUGMENT_NONE = 0, /* every epoch sees each run's full FC */
    BS_FINETUNE_AUGMENT_PFC = 1   /* every epoch sees a fresh pFC view of each run */
} bs_finetune_augment;

typedef struct bs_finetune_config {
    int hidden1, hidden2;     /* head widths (256, 32) */
    double head_dropout;      /* dropout after each hidden block (0.3) */
    double encoder_dropout;   /* transformer dropout while fine-tuning; < 0: the checkpoint's (-1) */
    int freeze_encoder;       /* 1: encoder and readout fixed (eval mode), only the head learns (0) */
    double lr;                /* AdamW step size of the head (1e-3) */
    double encoder_lr;        /* of the encoder layers and readout; < 0: lr / 10 (-1) */
    double weight_decay;      /* decoupled, on every parameter as torch.optim.AdamW (0.01) */
    int epochs;               /* training epochs, the maximum with early stopping (30) */
    int batch;                /* minibatch of runs (16); a last batch of one joins the previous */
    int patience;             /* early stopping: stop after this many epochs without a lower
                               * validation loss and keep the best epoch's weights; 0 = off (0) */
    double val_fraction;      /* share of the training subjects held out for early stopping (0.2) */
    bs_finetune_augment augment; /* PFC */
    double pfc_keep;          /* kept fraction of time points per pFC view (0.8) */
    double leaky_slope, bn_eps, bn_momentum; /* 0.01, 1e-5, 0.1 (PyTorch defaults) */
    uint64_t seed;            /* head initialisation, batch order, dropout, pFC draws (42) */
} bs_finetune_config;

void bs_finetune_config_default(bs_finetune_config *cfg);
int bs_finetune_config_validate(const bs_finetune_config *cfg, bs_error *err);

typedef struct bs_finetune bs_finetune;

/* A model for n_classes (>= 2) classes from a pretrained encoder (copied;
 * `pretrained` is not modified) or, with pretrained == NULL, from a randomly
 * initialised encoder of shape *arch (training from scratch, the control
 * for "does pretraining help").  Head weights: PyTorch-default init from
 * cfg->seed.  class_names may be NULL. */
bs_finetune *bs_finetune_new(const bs_brainmass *pretrained, const bs_brainmass_config *arch, int n_classes,
                             const char *const *class_names, const bs_finetune_config *cfg, bs_error *err);
void bs_finetune_free(bs_finetune *ft);
int bs_finetune_rois(const bs_finetune *ft);
int bs_finetune_n_classes(const bs_finetune *ft);
const char *bs_finetune_class_name(const bs_finetune *ft, int c); /* NULL when unnamed */
const bs_finetune_config *bs_finetune_get_config(const bs_finetune *ft);

/* Replaces the training settings (rates, decay, freezing, encoder dropout,
 * epochs, batch, early stopping, augmentation, seed) of a model, e.g. one
 * just loaded; the architecture (hidden sizes, head dropout, slopes,
 * BatchNorm constants) stays as built. */
int bs_finetune_set_training(bs_finetune *ft, const bs_finetune_config *cfg, bs_error *err);

/* ---- one step (tests, custom loops) ---- */

/* Forward + backward on a batch fc [B, R, R], labels y [B]: zeroes and fills
 * every gradient, returns the mean cross-entropy in *loss and the logits
 * [B, C] in logits (may be NULL).  train = 1: dropout on, BatchNorm on batch
 * statistics (running statistics updated; needs B >= 2); train = 0: eval
 * mode (the gradients are those of the eval-mode loss). */
int bs_finetune_compute_grads(bs_finetune *ft, const float *fc, const int32_t *y, int B, int train,
                              double *loss, float *logits, bs_error *err);
/* One AdamW step with the gradients of the last compute_grads (the head at
 * cfg.lr; encoder and readout at the encoder rate unless frozen). */
void bs_finetune_apply_update(bs_finetune *ft);
int64_t bs_finetune_step_count(const bs_finetune *ft);

/* Eval-mode class probabilities probs [n, C] of fc [n, R, R]. */
int bs_finetune_predict_fc(bs_finetune *ft, const float *fc, int64_t n, double *probs, bs_error *err);

/* Named tensors (encoder layers, readout, head, BatchNorm buffers), with
 * their gradients (NULL for buffers).  Names as in the saved file. */
typedef struct bs_finetune_tensor {
    const char *name;
    int ndim;
    int64_t shape[3];
    float *data;     /* NULL for num_batches_tracked (see count) */
    float *grad;     /* NULL for buffers */
    int64_t *count;  /* num_batches_tracked, else NULL */
} bs_finetune_tensor;
int bs_finetune_tensor_count(const bs_finetune *ft);
int bs_finetune_tensor_get(const bs_finetune *ft, int index, bs_finetune_tensor *out);
int bs_finetune_tensor_find(const bs_finetune *ft, const char *name, bs_finetune_tensor *out);

/* ---- checkpoints ---- */

/* Atomic safetensors write: encoder + readout + head + BatchNorm buffers,
 * the BrainMass config and the head's (format, classes, sizes, slopes) in
 * __metadata__. */
int bs_finetune_save(const bs_finetune *ft, const char *path, bs_error *err);
/* Loads a file written by bs_finetune_save (ready to predict). */
bs_finetune *bs_finetune_load(const char *path, bs_error *err);
/* 1 when path is a fine-tuned model (its __metadata__ format), 0 when it is
 * some other safetensors file, < 0 (error set) when it cannot be read. */
int bs_finetune_is_model_file(const char *path, bs_error *err);

/* ---- training data and the training loop ---- */

/* Runs (one FC each, and optionally a pFC generator) grouped into subjects.
 * Fields are read-only for callers. */
typedef struct bs_pfc_generator bs_pfc_generator;
typedef struct bs_finetune_data {
    int rois;
    int64_t n_runs, n_subjects;
    int32_t *subject;          /* [n_runs] subject index of each run */
    float *fc;                 /* [n_runs, R, R] full-run Pearson FC (undefined ROIs: zero rows) */
    bs_pfc_generator **pfc;    /* [n_runs] view generators, or NULL (FC-only data) */
} bs_finetune_data;

/* From ROI time series ts[u] (T[u] x R row-major, NaN allowed: an ROI with
 * any non-finite value becomes 0, as for pretraining and embedding) of run
 * u belonging to subject[u] in [0, n_subjects).  pfc_keep in (0, 1] sets
 * the views' kept fraction (0: no generators, no augmentation possible);
 * names[u] (may be NULL) appear in error messages. */
int bs_finetune_data_from_series(int64_t n_runs, const float *const *ts, const int64_t *T, int R,
                                 const int32_t *subject, int64_t n_subjects, double pfc_keep, uint64_t seed,
                                 const char *const *names, bs_finetune_data *out, bs_error *err);
/* From n FC matrices [n, R, R], one run per subject (no augmentation). */
int bs_finetune_data_from_fc(const float *fc, int64_t n, int R, bs_finetune_data *out, bs_error *err);
void bs_finetune_data_free(bs_finetune_data *d);

typedef struct bs_finetune_report {
    int epochs_run;           /* epochs trained */
    int best_epoch;           /* epoch whose weights were kept (1-based; = epochs_run without early stopping) */
    double first_loss, last_loss; /* mean training loss of the first and last epoch */
    double best_val_loss;     /* NaN without early stopping */
} bs_finetune_report;

/* Trains on every run of the subjects subjects[0..n) (labels y[i] of
 * subject subjects[i]) for cfg.epochs epochs, or with early stopping on a
 * stratified validation share of those subjects.  Errors: a class without
 * training subjects, augmentation requested on FC-only data, ROI count of
 * the data different from the model's. */
int bs_finetune_fit(bs_finetune *ft, const bs_finetune_data *data, const int64_t *subjects, int64_t n,
                    const int32_t *y, bs_finetune_report *rep, bs_error *err);
/* Eval-mode class probabilities of subjects[0..n) into probs [n, C]: the
 * mean over each subject's runs of their full-FC probabilities. */
int bs_finetune_predict(bs_finetune *ft, const bs_finetune_data *data, const int64_t *subjects, int64_t n,
                        double *probs, bs_error *err);

/* ---- cross-validation: a learner for bs_evaluate ---- */

/* Fine-tunes a fresh copy of `pretrained` (or, when NULL, a random encoder
 * of shape `arch`) on each split's training subjects only (row i of the
 * evaluation is subject i of `data`), so no test subject influences its
 * model.  Each split's model uses cfg with the split's seed.  Everything is
 * borrowed and must outlive the evaluation. */
typedef struct bs_finetune_learner {
    const bs_brainmass *pretrained;
    bs_brainmass_config arch;
    const bs_finetune_data *data;
    bs_finetune_config cfg;
    char params_json[640];     /* filled by bs_finetune_learner_init (JSON report) */
    int64_t epochs_total;      /* epochs trained over all splits so far */
} bs_finetune_learner;
struct bs_eval_learner;
void bs_finetune_learner_init(bs_finetune_learner *fl, struct bs_eval_learner *out);

#ifdef __cplusplus
}
#endif
#endif
