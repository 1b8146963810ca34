/* brainstage/nn.h - the shared neural-network core (llm.c style).
 *
 * Plain float arrays, explicit sizes, one forward and one backward function
 * per op.  Models (BrainMass, BrainMAE, classifier heads) own their
 * activation buffers and call these functions in order; there is no autograd.
 *
 * Conventions (apply to every op below):
 *  - Layout is row-major.  B = batch, T = tokens, C = channels/features,
 *    N = rows (often B*T), H = heads.  Linear weights are stored [out, in]
 *    like PyTorch, so a state_dict loads without transposes.
 *  - Forward functions OVERWRITE their outputs.  Backward functions
 *    ACCUMULATE (+=) into every gradient they are given (inputs and
 *    parameters), so the caller zeroes gradients once per step and a tensor
 *    used twice (residuals) simply receives both contributions.  Any
 *    gradient pointer may be NULL to skip that gradient.
 *  - Hyper-parameters (eps, slopes, probabilities) are float; losses are
 *    returned as double.  Long sums accumulate in double.
 *  - OpenMP parallel loops split work so that every output element is
 *    written by exactly one thread in a fixed order: results are bitwise
 *    reproducible for a given seed and thread count (BLAS included, since
 *    OpenBLAS partitions deterministically for a fixed thread count).
 *  - Every op (not the optimiser / param-table helpers) also exists in double
 *    precision with the suffix _d (brainstage/nn_double.h); the double twins
 *    are compiled from the same source and exist for the finite-difference
 *    gradient checks.
 *  - Unless stated otherwise, outputs must not alias inputs.
 *
 * The ops assume valid sizes (> 0) and non-NULL required pointers: they are
 * inner-loop code and do not take a bs_error.  Fallible helpers (param
 * table, checkpoints) follow the library's bs_error convention. */
#ifndef BRAINSTAGE_NN_H
#define BRAINSTAGE_NN_H

#include <stddef.h>
#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Threads and seeds
 * ====================================================================== */

/* Sets the OpenMP and OpenBLAS thread counts (n >= 1). */
void nn_set_num_threads(int n);
int nn_get_num_threads(void);

/* Mixes a base seed with up to two counters (e.g. step, layer) into an
 * independent seed for dropout: nn_seed_mix(seed, step, layer_index). */
uint64_t nn_seed_mix(uint64_t seed, uint64_t a, uint64_t b);

/* ======================================================================
 * Parameter table: named tensors in ONE contiguous buffer
 * ======================================================================
 * A model registers each tensor under its PyTorch state_dict name
 * ("attention_list.0.self_attn.in_proj_weight"), then calls
 * nn_params_alloc(), which allocates one float buffer each for values,
 * gradients and the AdamW first/second moments, and fills the caller's
 * float* slots.  Every tensor starts on a 64-byte boundary. */

#define NN_NAME_MAX 160
#define NN_MAX_DIMS 4

enum nn_param_flags {
    NN_PARAM_DECAY = 0,      /* ordinary weight: AdamW weight decay applies */
    NN_PARAM_NO_DECAY = 1u,  /* norms, biases, tokens: excluded from decay */
    NN_PARAM_BUFFER = 2u,    /* not a parameter (BatchNorm running stats):
                                no gradient, not optimised, not EMA'd,
                                but saved and loaded */
    NN_PARAM_FROZEN = 4u,    /* parameter the optimiser leaves alone */
    NN_PARAM_INT64 = 8u      /* stored as I64 in checkpoints
                                (BatchNorm num_batches_tracked) */
};

typedef struct nn_param {
    char name[NN_NAME_MAX];
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    size_t offset;           /* in floats, into data/grad/m/v */
    size_t numel;
    unsigned flags;          /* nn_param_flags */
    float **data_slot;       /* filled by nn_params_alloc (may be NULL) */
    float **grad_slot;
} nn_param;

typedef struct nn_params {
    nn_param *items;
    int count, cap;
    size_t total;            /* floats in each buffer, padding included */
    float *data;             /* values */
    float *grad;             /* gradients (zeroed by nn_params_zero_grad) */
    float *adam_m, *adam_v;  /* AdamW moments */
    int64_t adam_step;       /* AdamW steps taken so far (bias correction) */
    int64_t *i64_scratch;    /* internal: checkpoint conversion buffer */
} nn_params;

void nn_params_init(nn_params *p);
void nn_params_free(nn_params *p);
/* Registers a tensor (ndim 0..4; 0 = scalar, e.g. num_batches_tracked with
 * PyTorch's shape []).  data_slot/grad_slot (may be NULL) receive pointers
 * into the shared buffers at nn_params_alloc time.  Fails on duplicate
 * names, bad shapes, or after nn_params_alloc. */
int nn_params_add(nn_params *p, const char *name, int ndim, const int64_t *shape,
                  unsigned flags, float **data_slot, float **grad_slot, bs_error *err);
int nn_params_add1(nn_params *p, const char *name, int64_t d0, unsigned flags,
                   float **data_slot, float **grad_slot, bs_error *err);
int nn_params_add2(nn_params *p, const char *name, int64_t d0, int64_t d1, unsigned flags,
                   float **data_slot, float **grad_slot, bs_error *err);
int nn_params_add3(nn_params *p, const char *name, int64_t d0, int64_t d1, int64_t d2,
                   unsigned flags, float **data_slot, float **grad_slot, bs_error *err);
/* Allocates the four buffers (zeroed) and fills the registered slots. */
int nn_params_alloc(nn_params *p, bs_error *err);
/* Index of `name`, or -1. */
int nn_params_find(const nn_params *p, const char *name);
float *nn_params_data(const nn_params *p, int index);
float *nn_params_grad(const nn_params *p, int index);
void nn_params_zero_grad(nn_params *p);
/* Number of trainable scalars (not BUFFER, not FROZEN). */
size_t nn_params_num_trainable(const nn_params *p);
/* Copies values of every tensor from src into dst (same registration order,
 * names and shapes, checked); buffers too when include_buffers. */
int nn_params_copy(nn_params *dst, const nn_params *src, int include_buffers, bs_error *err);

/* ---- checkpoints (safetensors glue; brainstage/safetensors.h) ----------
 * Names in the file are prefix + registered name (prefix may be NULL or ""),
 * so tensors of several tables share one file ("target." + name ...).
 * Adds every tensor to the writer; data is BORROWED until
 * bs_st_writer_write, so keep p alive and unchanged until then. */
struct bs_st_writer;
struct bs_safetensors;
int nn_params_write(nn_params *p, struct bs_st_writer *w, const char *prefix, bs_error *err);
/* AdamW moments of trainable tensors as prefix+"exp_avg."+name and
 * prefix+"exp_avg_sq."+name (step: store p->adam_step in metadata). */
int nn_params_write_adam(nn_params *p, struct bs_st_writer *w, const char *prefix, bs_error *err);

enum nn_load_mode {
    NN_LOAD_STRICT = 0,          /* every registered tensor must be present */
    NN_LOAD_ALLOW_MISSING = 1    /* absent tensors keep their values (logged) */
};
/* Reads values by name with shape checks (error names tensor and shapes). */
int nn_params_read(nn_params *p, const struct bs_safetensors *st, const char *prefix,
                   int mode, bs_error *err);
int nn_params_read_adam(nn_params *p, const struct bs_safetensors *st, const char *prefix,
                        bs_error *err);

/* ---- initialisation (PyTorch defaults) --------------------------------- */
void nn_init_fill(float *w, size_t n, float value);
void nn_init_uniform(float *w, size_t n, float lo, float hi, bs_rng *rng);
void nn_init_normal(float *w, size_t n, float mean, float std, bs_rng *rng);
/* nn.Linear default: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)); b may be NULL. */
void nn_init_linear(float *w, float *b, int in, int out, bs_rng *rng);
/* Xavier/Glorot uniform, bound sqrt(6/(fan_in+fan_out)); for the MHA
 * in_proj_weight [3C, C] PyTorch uses fan_in = C, fan_out = 3C. */
void nn_init_xavier_uniform(float *w, int fan_in, int fan_out, bs_rng *rng);
/* Xavier/Glorot normal over n values, std sqrt(2/(fan_in+fan_out)).  PyTorch's
 * fans of a [1,1,R] token (BrainMass mask/cls/dist tokens) are R and R. */
void nn_init_xavier_normal(float *w, size_t n, int fan_in, int fan_out, bs_rng *rng);

/* ======================================================================
 * Ops (float; double twins with suffix _d in nn_double.h)
 * ====================================================================== */

/* ---- linear: y[N,out] = x[N,in] W[out,in]^T + b[out] (b may be NULL) ---- */
void nn_linear_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int in, int out);
void nn_linear_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int in, int out);
/* Forward with a weight of row stride ldw >= in (a column block of a wider
 * weight) and optionally accumulating: y = (accumulate ? y : 0) + x W^T + b.
 * A wide hidden layer can then run in column blocks that stay in cache:
 * y = b2 + sum_k act(x W1[k]^T + b1[k]) W2[:, k]^T. */
void nn_linear_forward_ld(float *y, const float *x, const float *w, int ldw, const float *b,
                          int N, int in, int out, int accumulate);

/* ---- batched matmul with transposed second operand --------------------
 * c[b] (M x Nc) = a[b] (M x K) . bt[b]^T, bt[b] is (Nc x K). */
void nn_bmm_nt_forward(float *c, const float *a, const float *bt, int batch, int M, int Nc, int K);
void nn_bmm_nt_backward(float *da, float *dbt, const float *dc, const float *a, const float *bt,
                        int batch, int M, int Nc, int K);

/* ---- LayerNorm over the last dim C of x[N, C] ---------------------------
 * Saves mean[N] and rstd[N] = 1/sqrt(var + eps) (biased var) for backward.
 * w, b may be NULL (elementwise_affine = False). */
void nn_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C, float eps);
void nn_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *w, int N, int C);
/* Residual sum and LayerNorm in one pass: s = a + r (kept for backward; s
 * may alias a or r), y = LayerNorm(s).  Backward: nn_layernorm_backward with
 * x = s; its dx is the gradient of both a and r. */
void nn_add_layernorm_forward(float *y, float *s, float *mean, float *rstd, const float *a, const float *r,
                              const float *w, const float *b, int N, int C, float eps);

/* ---- BatchNorm1d on x[N, C] (statistics over N per channel) -------------
 * Training: normalises with batch mean / biased var, saves mean[C],
 * rstd[C]; if running_mean/var are non-NULL updates them like PyTorch:
 * r = (1-momentum) r + momentum * stat, with the UNBIASED variance (N/(N-1))
 * (momentum 0.1 in PyTorch).  The caller increments num_batches_tracked.
 * Eval: normalises with the running statistics.  w/b may be NULL. */
void nn_batchnorm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *x, const float *w, const float *b,
                                int N, int C, float eps, float momentum);
void nn_batchnorm_forward_eval(float *y, const float *x, const float *w, const float *b,
                               const float *running_mean, const float *running_var,
                               int N, int C, float eps);
/* Backward of the training-mode forward (batch statistics). */
void nn_batchnorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *w, int N, int C);
/* Backward of the eval-mode forward (running statistics are constants). */
void nn_batchnorm_backward_eval(float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, const float *running_mean,
                                const float *running_var, int N, int C, float eps);

/* ---- elementwise activations on n values --------------------------------
 * Forward may run in place (y == x).  Backward takes the forward INPUT x;
 * for relu and leaky_relu (slope > 0) the output works as well, since the
 * sign is preserved. */
void nn_relu_forward(float *y, const float *x, size_t n);
void nn_relu_backward(float *dx, const float *dy, const float *x, size_t n);
void nn_leaky_relu_forward(float *y, const float *x, size_t n, float slope);
void nn_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n, float slope);

typedef enum nn_gelu_kind {
    NN_GELU_ERF = 0,  /* exact, PyTorch default: x * Phi(x) */
    NN_GELU_TANH = 1  /* approximate='tanh' */
} nn_gelu_kind;
void nn_gelu_forward(float *y, const float *x, size_t n, nn_gelu_kind kind);
void nn_gelu_backward(float *dx, const float *dy, const float *x, size_t n, nn_gelu_kind kind);

/* ---- dropout (inverted): y = x * keep / (1-p), keep ~ Bernoulli(1-p) -----
 * The keep mask (0/1 bytes) is a counter-based hash of (seed, index): it
 * does not depend on the thread count.  p == 0 copies and sets mask to 1.
 * Forward may run in place. */
void nn_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed);
void nn_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);
/* ReLU followed by inverted dropout, y = relu(x) * keep / (1-p), in one
 * pass and without a stored mask: the keep mask is the one
 * nn_dropout_forward draws for the same seed, and backward needs only the
 * OUTPUT y (y > 0 exactly where the gradient flows).  p = 0 is plain ReLU.
 * Forward may run in place.  Backward accumulates, dx += (y > 0) dy/(1-p),
 * except that dx == dy is allowed and then overwrites dy with the result. */
void nn_relu_dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed);
void nn_relu_dropout_backward(float *dx, const float *dy, const float *y, size_t n, float p);
/* ---- residual add: y = a + b (y may alias a or b) ------------------------ */
void nn_add_forward(float *y, const float *a, const float *b, size_t n);
void nn_add_backward(float *da, float *db, const float *dy, size_t n);
/* Broadcast add of one row over B blocks: y[b, i] = x[b, i] + row[i]
 * (positional tables; row gradient = sum over b).  y may alias x. */
void nn_add_bcast_forward(float *y, const float *x, const float *row, int B, size_t n);
void nn_add_bcast_backward(float *dx, float *drow, const float *dy, int B, size_t n);
/* dst[i] += src[i] */
void nn_accumulate(float *dst, const float *src, size_t n);

/* ---- softmax / log_softmax over the last dim of x[N, C] -----------------
 * Backward takes the forward OUTPUT y. */
void nn_softmax_forward(float *y, const float *x, int N, int C);
void nn_softmax_backward(float *dx, const float *dy, const float *y, int N, int C);
void nn_log_softmax_forward(float *y, const float *x, int N, int C);
void nn_log_softmax_backward(float *dx, const float *dy, const float *y, int N, int C);

/* ---- attention core: softmax(scale * Q K^T + masks) V, per (batch, head) --
 * Element (b, t, h, j) of Q lives at q[b*q_bs + t*q_ts + h*hd + j]; same
 * for K, V, the output O and the gradients (which use the strides of
 * their forward tensor).  Packed qkv [B,T,3C] from a stacked in_proj:
 * q = qkv, k = qkv + C, v = qkv + 2C, *_ts = 3C, *_bs = 3*T*C.
 * A batch stride of 0 shares Q or K or V across the batch (static graphs,
 * e.g. BrainMAE's ROI-embedding attention); their gradients then sum over
 * the batch (done serially per head, so still deterministic).
 * Rows whose keys are all masked produce zero output (PyTorch gives NaN). */
typedef struct nn_attn_dims {
    int B, H, Tq, Tk, hd;
    long q_bs, q_ts, k_bs, k_ts, v_bs, v_ts, o_bs, o_ts;
    float scale;                /* 0 means 1/sqrt(hd) */
    const float *attn_mask;     /* additive [Tq, Tk] (may hold -INFINITY), or NULL */
    const uint8_t *key_padding; /* [B, Tk], nonzero = key ignored, or NULL */
    float dropout;              /* dropout on probabilities (training), 0 = off */
    uint64_t seed;              /* dropout seed */
} nn_attn_dims;

/* Fills the strides for packed self-attention qkv [B,T,3C] -> out [B,T,C],
 * C = H*hd; scale, masks, dropout zeroed. */
nn_attn_dims nn_attn_dims_packed(int B, int T, int H, int hd);

/* att [B,H,Tq,Tk] receives the softmax probabilities BEFORE dropout (kept
 * for backward and interpretation; may be NULL in inference).  drop
 * [B,H,Tq,Tk] receives the dropout keep mask (NULL allowed when dropout
 * is 0).  out is overwritten. */
void nn_attention_forward(float *out, float *att, uint8_t *drop, const float *q,
                          const float *k, const float *v, const nn_attn_dims *d);
/* att (and drop if dropout > 0) from the forward are required. */
void nn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const uint8_t *drop, const float *q, const float *k, const float *v,
                           const nn_attn_dims *d);
/* Mean over heads of att [B,H,Tq,Tk] -> avg [B,Tq,Tk] (PyTorch's
 * average_attn_weights=True). */
void nn_attention_average_heads(float *avg, const float *att, int B, int H, int Tq, int Tk);

/* ---- multi-head self-attention like torch.nn.MultiheadAttention ---------
 * batch_first, x[B,T,C], in_proj_weight [3C,C] (q;k;v stacked),
 * in_proj_bias [3C], out_proj.weight [C,C], out_proj.bias [C], H heads.
 * Caller-owned caches: qkv [B,T,3C], ctx [B,T,C] (attention output before
 * out_proj), att [B,H,T,T] (required for backward), drop [B,H,T,T] (only
 * when opt->dropout > 0).  opt may be NULL (no masks, no dropout). */
typedef struct nn_mha_opts {
    const float *attn_mask;     /* additive [T, T] or NULL */
    const uint8_t *key_padding; /* [B, T] nonzero = ignore, or NULL */
    float dropout;              /* attention-probability dropout (training) */
    uint64_t seed;
} nn_mha_opts;

void nn_mha_forward(float *y, float *qkv, float *ctx, float *att, uint8_t *drop,
                    const float *x, const float *in_w, const float *in_b,
                    const float *out_w, const float *out_b,
                    int B, int T, int C, int H, const nn_mha_opts *opt);
/* dqkv [B,T,3C] and dctx [B,T,C] are caller scratch (overwritten). */
void nn_mha_backward(float *dx, float *din_w, float *din_b, float *dout_w, float *dout_b,
                     float *dqkv, float *dctx, const float *dy, const float *x,
                     const float *qkv, const float *ctx, const float *att, const uint8_t *drop,
                     const float *in_w, const float *out_w,
                     int B, int T, int C, int H, const nn_mha_opts *opt);

/* ---- token plumbing ------------------------------------------------------ */
/* Mask-token substitution on rows of x[N, C]: row i of y is token[C] where
 * mask[i] != 0, else row i of x.  Backward: unmasked rows pass dy to dx,
 * masked rows accumulate into dtoken.  y may alias x. */
void nn_mask_token_forward(float *y, const float *x, const float *token, const uint8_t *mask,
                           int N, int C);
void nn_mask_token_backward(float *dx, float *dtoken, const float *dy, const uint8_t *mask,
                            int N, int C);
/* y[B, K+T, C] = concat(tokens[K, C], x[b]) for every b (cls/dist tokens). */
void nn_prepend_tokens_forward(float *y, const float *x, const float *tokens,
                               int B, int T, int K, int C);
void nn_prepend_tokens_backward(float *dx, float *dtokens, const float *dy,
                                int B, int T, int K, int C);
/* y[m, :] = x[rows[m], :] for m < M (rows index rows of x). Backward
 * scatter-adds (repeated rows allowed). */
void nn_gather_rows_forward(float *y, const float *x, const int32_t *rows, int M, int C);
void nn_gather_rows_backward(float *dx, const float *dy, const int32_t *rows, int M, int C);
/* Mean over tokens: y[B, C] = mean_t x[B, T, C]. */
void nn_mean_tokens_forward(float *y, const float *x, int B, int T, int C);
void nn_mean_tokens_backward(float *dx, const float *dy, int B, int T, int C);
/* Fixed sinusoidal table [T, C]: even dim 2i: sin(t / base^(2i/C)),
 * odd dim 2i+1: cos(t / base^(2i/C)); base 10000 in the papers. */
void nn_sinusoid_table(float *table, int T, int C, double base);

/* ---- losses: forward returns the loss; backward takes dloss (usually 1,
 * or the loss weight in a weighted sum) ------------------------------------ */
/* loss = scale * sum_i w_i (pred_i - target_i)^2; weight may be NULL (w=1).
 * scale = 1/n gives MSELoss(mean).  For BrainMAE's 0.75/0.25 split pass
 * per-element weights (0.75/n_masked, 0.25/n_unmasked) with scale 1. */
double nn_mse_forward(const float *pred, const float *target, const float *weight,
                      size_t n, double scale);
void nn_mse_backward(float *dpred, float *dtarget, const float *pred, const float *target,
                     const float *weight, size_t n, double scale, double dloss);

/* Row-wise cosine similarity of a[N,D], b[N,D] after L2 normalisation
 * x / max(||x||, eps) (F.normalize; eps 1e-12 there). */
void nn_cosine_forward(float *cos, const float *a, const float *b, int N, int D, float eps);
void nn_cosine_backward(float *da, float *db, const float *dcos, const float *a, const float *b,
                        int N, int D, float eps);
/* BYOL regression loss: mean over rows of 2 - 2 cos(p_i, z_i), eps 1e-12.
 * cos[N] (may be NULL) receives the per-row similarities. */
double nn_byol_loss_forward(float *cos, const float *p, const float *z, int N, int D);
void nn_byol_loss_backward(float *dp, float *dz, const float *p, const float *z,
                           int N, int D, double dloss);

/* Cross-entropy / InfoNCE over logits[N, C] with integer targets[N]
 * (targets < 0 are ignored); loss = mean over counted rows of
 * -log softmax(logits)[target].  probs[N,C] receives the softmax (saved
 * for backward).  InfoNCE with the diagonal as positives: targets = row
 * index within each block (see nn_bmm_nt_* for the logits). */
double nn_cross_entropy_forward(float *probs, const float *logits, const int32_t *targets,
                                int N, int C);
void nn_cross_entropy_backward(float *dlogits, const float *probs, const int32_t *targets,
                               int N, int C, double dloss);
/* Rows whose argmax equals the target (identification accuracy). */
int nn_argmax_correct(const float *logits, const int32_t *targets, int N, int C);

/* ======================================================================
 * Optimisation (float only)
 * ====================================================================== */

typedef struct nn_adamw_cfg {
    float beta1, beta2, eps, weight_decay;
} nn_adamw_cfg;
/* torch.optim.AdamW defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
nn_adamw_cfg nn_adamw_defaults(void);

/* One AdamW step on raw arrays, `step` counting from 1, exactly PyTorch's
 * formula: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
void nn_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                     float lr, const nn_adamw_cfg *cfg, float weight_decay, int64_t step);
/* Increments p->adam_step and updates every trainable tensor (not BUFFER,
 * not FROZEN); NO_DECAY tensors get weight decay 0. */
void nn_params_adamw_step(nn_params *p, float lr, const nn_adamw_cfg *cfg);

/* Learning-rate schedules; step counts from 0.  Warm-up is linear:
 * lr * (step + 1) / warmup for step < warmup.  Cosine then decays from lr_max
 * to lr_min over the remaining total - warmup steps (lr_min after that). */
float nn_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float lr_max, float lr_min);
float nn_lr_warmup_constant(int64_t step, int64_t warmup, float lr);

/* Gradient clipping.  By norm like torch.nn.utils.clip_grad_norm_: scales by
 * max_norm / (norm + 1e-6) when that is < 1; returns the norm before
 * clipping.  By value like clip_grad_value_: clamps to [-clip, clip]. */
double nn_grad_norm(const float *g, size_t n);
double nn_clip_grad_norm(float *g, size_t n, float max_norm);
void nn_clip_grad_value(float *g, size_t n, float clip);
/* Over trainable tensors of a table only. */
double nn_params_grad_norm(const nn_params *p);
double nn_params_clip_grad_norm(nn_params *p, float max_norm);
void nn_params_clip_grad_value(nn_params *p, float clip);

/* EMA (BYOL target): target = momentum * target + (1 - momentum) * online. */
void nn_ema_update(float *target, const float *online, size_t n, float momentum);
/* Every parameter (not BUFFER) of target is moved towards the parameter of
 * the same name in online (shapes checked; online may hold more tensors,
 * e.g. the predictor).  Error if a target parameter is missing in online. */
int nn_params_ema_update(nn_params *target, const nn_params *online, float momentum,
                         bs_error *err);

#ifdef __cplusplus
}
#endif

#include "brainstage/nn_double.h"

#endif
