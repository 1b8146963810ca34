/* brainstage/brainmae.h - BrainMAE: region-aware masked autoencoder on ROI
 * time series (model, pretraining, inference, interpretation exports).
 *
 * A subject's time series (T x R) is cut into non-overlapping segments of
 * seg_len samples (window_s seconds at the run's TR); n_segments consecutive
 * segments form one sample.  Each segment's R ROI signals are encoded by a
 * transient-state encoder (SG: region-aware graph-attention blocks only; AG:
 * one region-aware block then self-attention blocks), pooled to a segment
 * vector, passed through a temporal transformer with a CLS token, and a
 * decoder reconstructs the segment signals.  docs/brainmae.md gives the
 * formulas and the choices made where the paper is silent. */
#ifndef BRAINSTAGE_BRAINMAE_H
#define BRAINSTAGE_BRAINMAE_H

#include <stdint.h>
#include <stddef.h>
#include "brainstage/error.h"
#include "brainstage/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_brainmae_encoder {
    BS_BRAINMAE_SG = 0, /* static graph: every encoder block region-aware */
    BS_BRAINMAE_AG = 1  /* adaptive graph: 1 region-aware + self-attention blocks */
} bs_brainmae_encoder;

typedef struct bs_brainmae_config {
    int n_rois;      /* R */
    int seg_len;     /* tau: samples per segment */
    int n_segments;  /* S: segments per sample (temporal tokens, CLS excluded) */
    int d_model;     /* d */
    int d_key;       /* dk of the region-aware query/key projections */
    int d_ffn;       /* hidden width of every feed-forward layer */
    int n_heads;     /* heads of the self-attention blocks (d % n_heads == 0) */
    int encoder;     /* bs_brainmae_encoder */
    int n_encoder;   /* blocks in the transient-state encoder (paper: 3) */
    int n_temporal;  /* temporal transformer blocks */
    int n_decoder;   /* decoder blocks (pretraining only) */
    int self_loops;  /* ablation "SL": keep alpha's diagonal (default 0) */
    float w_masked;   /* loss weight on masked ROI segments (0.75) */
    float w_unmasked; /* loss weight on visible ROI segments (0.25) */
    float window_s;   /* segment length in seconds the model was trained with
                         (0 = unknown: no TR consistency check) */
    float dropout;    /* training-time dropout rate of every transformer block
                         (attention probabilities of self-attention blocks,
                         both residual branches, FFN hidden layer); 0 (none)
                         by default; inference never drops */
} bs_brainmae_config;

/* Small default (d=64, 4 heads, SG, 3+2+1 blocks, no dropout) for R ROIs
 * and segments of seg_len samples, n_segments per sample. */
void bs_brainmae_config_default(bs_brainmae_config *cfg, int n_rois, int seg_len, int n_segments);
int bs_brainmae_config_validate(const bs_brainmae_config *cfg, bs_error *err);

/* Segment length in samples for a window of window_s seconds at repetition
 * time tr: round(window_s / tr), at least 1.  Errors when tr is missing
 * (<= 0 or not finite) or window_s is not positive. */
int bs_brainmae_seg_len(double window_s, double tr, int *seg_len, bs_error *err);

/* ---- model ---- */

typedef struct bs_brainmae bs_brainmae;

typedef struct bs_brainmae_param {
    const char *name;   /* PyTorch-style name, also the safetensors key */
    int ndim;
    int64_t shape[2];
    size_t offset;      /* into the flat parameter buffer */
    size_t numel;
    int decay;          /* 1 = AdamW weight decay applies (matrices) */
} bs_brainmae_param;

/* New model, parameters initialised from seed (N(0, 0.02) matrices and
 * tokens, zero biases, unit LayerNorm gains). */
bs_brainmae *bs_brainmae_new(const bs_brainmae_config *cfg, uint64_t seed, bs_error *err);
void bs_brainmae_free(bs_brainmae *m);
const bs_brainmae_config *bs_brainmae_get_config(const bs_brainmae *m);

int bs_brainmae_param_count(const bs_brainmae *m);
const bs_brainmae_param *bs_brainmae_param_info(const bs_brainmae *m, int index);
const bs_brainmae_param *bs_brainmae_param_find(const bs_brainmae *m, const char *name);
/* Floats in each flat buffer (every tensor padded to a multiple of 16). */
size_t bs_brainmae_num_params(const bs_brainmae *m);
float *bs_brainmae_params(bs_brainmae *m);
float *bs_brainmae_grads(bs_brainmae *m);

/* One batch.  x: (B, S, R, tau) segment signals; mask: (B, S, R), 1 = the
 * ROI's samples in that segment are hidden from the encoder; valid: (B, R),
 * 1 = ROI usable (0 for NaN / low-coverage ROIs: always hidden, never in the
 * loss); valid may be NULL (all valid).  x must be finite where valid.
 * Stores activations for bs_brainmae_backward and sets *loss (may be NULL). */
int bs_brainmae_forward(bs_brainmae *m, int batch, const float *x, const uint8_t *mask,
                        const uint8_t *valid, float *loss, bs_error *err);
/* The same in training mode: dropout at cfg->dropout with keep masks that
 * are a pure function of (seed, block, site, element index), so they do not
 * depend on the thread count.  bs_brainmae_pretrain passes
 * nn_seed_mix(options seed, step, 0). */
int bs_brainmae_forward_train(bs_brainmae *m, int batch, const float *x, const uint8_t *mask,
                              const uint8_t *valid, uint64_t dropout_seed, float *loss,
                              bs_error *err);
/* Adds d(loss)/d(params) of the last forward into the gradient buffer. */
int bs_brainmae_backward(bs_brainmae *m, bs_error *err);
void bs_brainmae_zero_grad(bs_brainmae *m);

/* Outputs of the last forward (valid until the next forward). */
const float *bs_brainmae_recon(const bs_brainmae *m);      /* (B, S, R, tau) */
const float *bs_brainmae_cls(const bs_brainmae *m);        /* (B, d) sample embedding */
const float *bs_brainmae_seg_embed(const bs_brainmae *m);  /* (B, S, d) per-segment */
/* Attention over segments of the last forward: how much the CLS token
 * attends to each of the S windows in the last temporal block, mean over
 * heads (before dropout); out is (B, S), each row sums to at most 1 (the
 * rest goes to the CLS token itself). */
void bs_brainmae_segment_attention(const bs_brainmae *m, float *out);

typedef struct bs_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} bs_adamw;
void bs_adamw_defaults(bs_adamw *opt); /* 1e-3, 0.9, 0.999, 1e-8, 0.05 */
/* One decoupled-weight-decay Adam step over the flat buffers (torch.optim.AdamW
 * semantics; decay only on parameters with decay = 1). */
void bs_brainmae_adamw_step(bs_brainmae *m, const bs_adamw *opt);
int64_t bs_brainmae_step_count(const bs_brainmae *m);

/* ---- interpretation ---- */

/* Learned adjacency alpha (R x R, rows sum to 1) of region-aware encoder
 * block `block` (0 = first); error when that block is not region-aware. */
int bs_brainmae_adjacency(const bs_brainmae *m, int block, float *alpha, bs_error *err);
/* ROI embeddings E (R x d), copied. */
void bs_brainmae_roi_embeddings(const bs_brainmae *m, float *E);
/* Attention each ROI receives in block `block`: column means of alpha (R). */
int bs_brainmae_roi_attention(const bs_brainmae *m, int block, float *score, bs_error *err);

/* ---- data ---- */

typedef struct bs_brainmae_subject {
    const float *ts;   /* T x R, row-major; NaN columns allowed (masked out) */
    int64_t n_time;    /* T */
    int n_rois;        /* R */
    double tr;         /* seconds; must be > 0 */
    const char *name;  /* for messages (may be NULL) */
} bs_brainmae_subject;

/* Prepared subject: per-ROI z-scored signal cut into segments.  ROIs whose
 * column holds any non-finite value or has zero variance are invalid. */
typedef struct bs_brainmae_prepared {
    int n_seg;        /* whole segments available */
    int n_rois, seg_len;
    float *seg;       /* (n_seg, R, tau) */
    uint8_t *valid;   /* (R) */
    int n_valid;
    double tr;        /* the run's TR (seconds) */
    char *name;       /* copy of the subject's name, for messages */
} bs_brainmae_prepared;

/* Errors: TR missing, TR inconsistent with the model (round(window_s/TR) !=
 * seg_len when cfg->window_s > 0), R mismatch, run shorter than one window
 * or than one sample of n_segments windows (message gives the seconds
 * needed), fewer than 2 valid ROIs (the message says when a volume is
 * non-finite in every ROI: censored volumes must be interpolated first). */
int bs_brainmae_prepare(const bs_brainmae_config *cfg, const bs_brainmae_subject *sub,
                        bs_brainmae_prepared *out, bs_error *err);
void bs_brainmae_prepared_free(bs_brainmae_prepared *p);

/* ---- pretraining ---- */

typedef struct bs_brainmae_train_options {
    int epochs;
    int batch;            /* samples per step */
    bs_adamw opt;
    double mask_max;      /* mask ratio drawn per batch from U(0, mask_max); 0.8 */
    uint64_t seed;
    const char *checkpoint;   /* path written every checkpoint_every epochs and at the end (NULL: none) */
    int checkpoint_every;
    int resume;               /* 1 = continue from `checkpoint` when it exists */
    int quiet;                /* no progress reporting */
} bs_brainmae_train_options;
void bs_brainmae_train_defaults(bs_brainmae_train_options *o);

typedef struct bs_brainmae_train_report {
    int epochs_done;
    double first_loss, last_loss; /* mean batch loss of the first / last epoch */
} bs_brainmae_train_report;

/* Group-level pretraining over n subjects' prepared data.  Every epoch draws
 * one random sample (n_segments consecutive segments) per subject per pass.
 * The runs' TRs must agree within 1 % (windows are whole samples, so runs at
 * other TRs would mix window lengths in seconds): error naming both runs. */
int bs_brainmae_pretrain(bs_brainmae *m, const bs_brainmae_prepared *subjects, int n,
                         const bs_brainmae_train_options *opt, bs_brainmae_train_report *report,
                         bs_error *err);

/* ---- inference ---- */

typedef struct bs_brainmae_inference {
    int n_samples;       /* windows of n_segments segments: floor(n_seg / S) */
    int d_model, n_segments, n_rois, seg_len;
    float *sample_embed; /* (n_samples, d): CLS output per sample */
    float *seg_embed;    /* (n_samples*S, d): temporal output per segment */
    float *subject_embed;/* (d): mean of sample_embed */
    float *seg_attention;/* (n_samples*S): CLS attention to each window, unmasked pass
                            (bs_brainmae_segment_attention) */
    float *recon;        /* (n_samples*S, R, tau) reconstruction */
    float *target;       /* (n_samples*S, R, tau) z-scored input */
    uint8_t *mask;       /* (n_samples*S, R) masked segments */
    double masked_mse;   /* over masked valid ROI segments (NaN if none) */
} bs_brainmae_inference;

/* Runs the model on every whole sample (n_segments consecutive segments,
 * non-overlapping) of a prepared subject.  Embeddings come from a pass
 * without masking; the reconstruction from a pass with segment-wise ROI
 * masking at mask_ratio (RNG from seed; ratio 0 = plain autoencoding). */
int bs_brainmae_infer(bs_brainmae *m, const bs_brainmae_prepared *p, double mask_ratio,
                      uint64_t seed, bs_brainmae_inference *out, bs_error *err);
void bs_brainmae_inference_free(bs_brainmae_inference *r);

/* Segment-wise ROI masking: in each of n_seg segments, round(ratio * n_valid)
 * valid ROIs chosen uniformly are masked (mask is n_seg x R). */
void bs_brainmae_draw_mask(bs_rng *rng, int n_seg, int n_rois, const uint8_t *valid,
                           double ratio, uint8_t *mask);

/* ---- synthetic data with planted networks (validation, demos) ---- */

typedef struct bs_brainmae_sim {
    int n_rois, n_networks;  /* ROI r belongs to network r % n_networks */
    int64_t n_time;          /* volumes per subject */
    double tr;               /* seconds */
    double state_s;          /* brain-state duration in seconds (15) */
    double coupling;         /* variance share of the network signal (0.7) */
    double phi;              /* AR(1) coefficient of the network signals per TR */
    uint64_t seed;
} bs_brainmae_sim;
void bs_brainmae_sim_defaults(bs_brainmae_sim *s, int n_rois, int n_networks, int64_t n_time,
                              double tr);
/* Subject `subject`'s time series into ts (n_time x n_rois): each network
 * has a latent AR(1) signal; every state_s seconds each network's gain is
 * redrawn (state switching, so connectivity changes on the window scale);
 * ROI r = loading_r * gain * latent_{net(r)} mixed with its own AR(1) noise.
 * network (may be NULL) receives the planted labels. */
int bs_brainmae_simulate(const bs_brainmae_sim *s, int subject, float *ts, int *network,
                         bs_error *err);

/* ---- checkpoints (safetensors; config, step, optimizer moments) ---- */

int bs_brainmae_save(const bs_brainmae *m, const char *path, int with_optimizer, bs_error *err);
bs_brainmae *bs_brainmae_load(const char *path, bs_error *err);

/* ---- the region-aware attention op (exposed for tests) ----
 * adjacency: alpha = row-softmax((E Wq^T)(E Wk^T)^T / sqrt(dk)), diagonal
 * removed unless self_loops; its backward ACCUMULATES dE, dWq, dWk.
 * aggregate: out[s] = alpha v[s] for the nseq (R x d) blocks of v
 * (overwritten; scratch unused, may be NULL); its backward OVERWRITES dv
 * with alpha^T dout[s] and ACCUMULATES dalpha (scratch 8*R*R). */

void bs_region_adjacency_forward_f32(const float *E, const float *Wq, const float *Wk, int R,
                                     int d, int dk, int self_loops, float *q, float *k,
                                     float *alpha);
void bs_region_adjacency_backward_f32(const float *E, const float *Wq, const float *Wk,
                                      const float *q, const float *k, const float *alpha,
                                      const float *dalpha, int R, int d, int dk, float *dE,
                                      float *dWq, float *dWk, float *scratch);
void bs_region_aggregate_forward_f32(const float *alpha, const float *v, int64_t nseq, int R,
                                     int d, float *out, float *scratch);
void bs_region_aggregate_backward_f32(const float *alpha, const float *v, const float *dout,
                                      int64_t nseq, int R, int d, float *dv, float *dalpha,
                                      float *scratch);
void bs_region_adjacency_forward_f64(const double *E, const double *Wq, const double *Wk, int R,
                                     int d, int dk, int self_loops, double *q, double *k,
                                     double *alpha);
void bs_region_adjacency_backward_f64(const double *E, const double *Wq, const double *Wk,
                                      const double *q, const double *k, const double *alpha,
                                      const double *dalpha, int R, int d, int dk, double *dE,
                                      double *dWq, double *dWk, double *scratch);
void bs_region_aggregate_forward_f64(const double *alpha, const double *v, int64_t nseq, int R,
                                     int d, double *out, double *scratch);
void bs_region_aggregate_backward_f64(const double *alpha, const double *v, const double *dout,
                                      int64_t nseq, int R, int d, double *dv, double *dalpha,
                                      double *scratch);

#ifdef __cplusplus
}
#endif
#endif
