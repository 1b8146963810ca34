/* core/brainmass/bm_finetune_internal.h - private layout of the fine-tuned
 * BrainMass model and its type-generic readout + classifier passes.
 *
 * The transformer layers run on BrainMass's own kernels (bm_encoder_fwd /
 * bm_encoder_bwd, float).  Everything after them -- the readout and the
 * classifier head -- is written once on the shared nn core ops and compiled
 * for float (the model) and double (suffix _d, for the finite-difference
 * gradient check), like the nn ops themselves. */
#ifndef BRAINSTAGE_BM_FINETUNE_INTERNAL_H
#define BRAINSTAGE_BM_FINETUNE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "brainstage/brainmass_finetune.h"
#include "brainstage/nn.h"
#include "bm_internal.h"

/* Offsets (in elements) of the readout + head tensors in one parameter
 * buffer, and of the BatchNorm running statistics in the same buffer. */
typedef struct bm_ft_layout {
    int R, K, H1, H2, C;      /* ROIs, readout width, hidden widths, classes */
    size_t red_w, red_b;      /* [K, R], [K]          online_network.dim_reduction.0 */
    size_t w0, b0;            /* [H1, K*R], [H1]      classifier.net.0 */
    size_t bn1_w, bn1_b;      /* [H1]                 classifier.net.1 */
    size_t w4, b4;            /* [H2, H1], [H2]       classifier.net.4 */
    size_t bn5_w, bn5_b;      /* [H2]                 classifier.net.5 */
    size_t w8, b8;            /* [C, H2], [C]         classifier.net.8 */
    size_t rm1, rv1, rm5, rv5;/* running mean / var of the two BatchNorms */
    size_t n;                 /* elements of a packed buffer (bm_ft_layout_pack) */
    float leaky, bn_eps, bn_momentum, dropout;
} bm_ft_layout;

/* Packed offsets (no padding), for callers that own plain arrays. */
void bm_ft_layout_pack(bm_ft_layout *L);

/* Activations of one batch; sizes from bm_ft_ws_size (elements) and
 * bm_ft_mask_size (bytes). */
size_t bm_ft_ws_size(const bm_ft_layout *L, int B);
size_t bm_ft_mask_size(const bm_ft_layout *L, int B);

/* Forward of readout + head from the encoder output enc [B, R, R] to
 * logits [B, C].  P holds the weights; in train mode BatchNorm uses batch
 * statistics and moves the running statistics in P (the caller counts
 * num_batches_tracked), dropout masks come from seed.  In eval mode P is
 * only read. */
void bm_ft_head_forward(const bm_ft_layout *L, float *P, const float *enc, int B, int train, uint64_t seed,
                        float *ws, uint8_t *masks, float *logits);
/* Backward from dlogits [B, C]: gradients ADDED into G (same layout as P)
 * and, when denc != NULL, the gradient of the encoder output written there
 * (overwritten, [B, R, R]).  Needs the ws/masks of the forward. */
void bm_ft_head_backward(const bm_ft_layout *L, const float *P, float *G, const float *enc, int B, int train,
                         const float *dlogits, float *ws, const uint8_t *masks, float *denc);
/* Double twins (gradient check). */
void bm_ft_head_forward_d(const bm_ft_layout *L, double *P, const double *enc, int B, int train, uint64_t seed,
                          double *ws, uint8_t *masks, double *logits);
void bm_ft_head_backward_d(const bm_ft_layout *L, const double *P, double *G, const double *enc, int B,
                           int train, const double *dlogits, double *ws, const uint8_t *masks, double *denc);

/* One tensor of the model table (names as saved). */
typedef struct bm_ft_entry {
    char name[NN_NAME_MAX];
    int ndim;
    int64_t shape[3];
    int in_encoder;     /* 1: data in enc->params (transformer layers) */
    int is_count;       /* num_batches_tracked (count1 / count5) */
    int is_buffer;      /* running statistics / counts: not optimised */
    int encoder_group;  /* optimised at the encoder rate (layers and readout) */
    size_t offset;      /* into enc->params or head.data */
    size_t numel;
    int64_t *count;
} bm_ft_entry;

struct bs_finetune {
    bs_finetune_config cfg;
    bs_brainmass *enc;        /* owns the transformer layers' params/grads/moments */
    size_t enc_n;             /* floats of the layer block [0, enc_n) in enc->params */
    nn_params head;           /* readout + classifier + BatchNorm buffers */
    bm_ft_layout L;           /* offsets into head.data */
    int64_t count1, count5;   /* num_batches_tracked of the two BatchNorms */
    int64_t step;             /* optimizer steps */
    int n_classes;
    char **class_names;
    bm_ft_entry *entries;
    int n_entries;
    /* workspace for the largest batch seen */
    int ws_batch;
    float *ws, *logits, *dlogits, *probs;
    uint8_t *masks;
    int32_t *targets;
};

/* Per-step seeds: encoder dropout key and head dropout seed. */
uint64_t bm_ft_encoder_key(const bs_finetune *ft);
uint64_t bm_ft_head_seed(const bs_finetune *ft);

#endif
