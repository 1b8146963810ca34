/* core/brainmass/bm_finetune_head_impl.h - readout + classifier head of the
 * fine-tuned BrainMass model, type-generic body (instantiated for float and
 * double by bm_finetune_head.c; see nn/real_begin.h).
 *
 *   z  = enc W_red^T + b_red            [B*R, K]   per-token readout
 *   a  = LeakyReLU(z), viewed [B, K*R]             (the BrainMass embedding)
 *   y1 = a W0^T + b0 -> BN1 -> LeakyReLU -> Dropout = d1        [B, H1]
 *   y4 = d1 W4^T + b4 -> BN5 -> LeakyReLU -> Dropout = d5       [B, H2]
 *   logits = d5 W8^T + b8                                        [B, C]
 * Every op is an nn core op, so its float and double versions come from
 * one source too. */
#include "nn/real_begin.h"

static void FN(ws_split)(const bm_ft_layout *L, int B, real *ws, real **p)
{
    size_t o[FT_WS_COUNT + 1];
    ws_offsets(L, B, o);
    for (int i = 0; i < FT_WS_COUNT; i++)
        p[i] = ws + o[i];
}

/* Linear -> BatchNorm1d -> LeakyReLU -> Dropout on x [B, k->in]; output in
 * slot k->d.  Train mode: batch statistics (running ones moved), dropout p. */
static void FN(block_forward)(const bm_ft_layout *L, const ft_block *k, real *P, const real *x, real **w,
                              uint8_t *mask, int B, int train, float p, uint64_t seed)
{
    const size_t n = (size_t)B * k->out;
    FN(nn_linear_forward)(w[k->y], x, P + k->w, P + k->b, B, k->in, k->out);
    if (train)
        FN(nn_batchnorm_forward_train)(w[k->n], w[k->mean], w[k->rstd], P + k->rm, P + k->rv, w[k->y],
                                       P + k->bn_w, P + k->bn_b, B, k->out, L->bn_eps, L->bn_momentum);
    else
        FN(nn_batchnorm_forward_eval)(w[k->n], w[k->y], P + k->bn_w, P + k->bn_b, P + k->rm, P + k->rv, B, k->out,
                                      L->bn_eps);
    FN(nn_leaky_relu_forward)(w[k->l], w[k->n], n, L->leaky);
    FN(nn_dropout_forward)(w[k->d], mask, w[k->l], n, p, seed);
}

/* From the gradient of the block output (slot k->gd): parameter gradients
 * into G, input gradient added into dx. */
static void FN(block_backward)(const bm_ft_layout *L, const ft_block *k, const real *P, real *G, const real *x,
                               real **w, const uint8_t *mask, int B, int train, float p, real *dx)
{
    const size_t n = (size_t)B * k->out;
    FN(nn_dropout_backward)(w[k->gl], w[k->gd], mask, n, p);
    FN(nn_leaky_relu_backward)(w[k->gn], w[k->gl], w[k->n], n, L->leaky);
    if (train)
        FN(nn_batchnorm_backward)(w[k->gy], G + k->bn_w, G + k->bn_b, w[k->gn], w[k->y], w[k->mean], w[k->rstd],
                                  P + k->bn_w, B, k->out);
    else
        FN(nn_batchnorm_backward_eval)(w[k->gy], G + k->bn_w, G + k->bn_b, w[k->gn], w[k->y], P + k->bn_w,
                                       P + k->rm, P + k->rv, B, k->out, L->bn_eps);
    FN(nn_linear_backward)(dx, G + k->w, G + k->b, w[k->gy], x, P + k->w, B, k->in, k->out);
}

void FN(bm_ft_head_forward)(const bm_ft_layout *L, real *P, const real *enc, int B, int train, uint64_t seed,
                            real *ws, uint8_t *masks, real *logits)
{
    real *w[FT_WS_COUNT];
    FN(ws_split)(L, B, ws, w);
    ft_block b1, b5;
    ft_blocks(L, &b1, &b5);
    const int R = L->R, K = L->K;
    const float p = train ? L->dropout : 0.0f;
    FN(nn_linear_forward)(w[WS_Z], enc, P + L->red_w, P + L->red_b, B * R, R, K);
    FN(nn_leaky_relu_forward)(w[WS_A], w[WS_Z], (size_t)B * K * R, L->leaky);
    FN(block_forward)(L, &b1, P, w[WS_A], w, masks, B, train, p, nn_seed_mix(seed, 1, 0));
    FN(block_forward)(L, &b5, P, w[WS_D1], w, masks + (size_t)B * L->H1, B, train, p, nn_seed_mix(seed, 5, 0));
    FN(nn_linear_forward)(logits, w[WS_D5], P + L->w8, P + L->b8, B, L->H2, L->C);
}

void FN(bm_ft_head_backward)(const bm_ft_layout *L, const real *P, real *G, const real *enc, int B, int train,
                             const real *dlogits, real *ws, const uint8_t *masks, real *denc)
{
    real *w[FT_WS_COUNT];
    FN(ws_split)(L, B, ws, w);
    ft_block b1, b5;
    ft_blocks(L, &b1, &b5);
    const int R = L->R, K = L->K;
    const float p = train ? L->dropout : 0.0f;
    /* the nn backward ops accumulate: start every gradient temporary at 0 */
    size_t o[FT_WS_COUNT + 1];
    ws_offsets(L, B, o);
    memset(w[WS_G_FIRST], 0, sizeof(real) * (o[FT_WS_COUNT] - o[WS_G_FIRST]));
    FN(nn_linear_backward)(w[WS_GD5], G + L->w8, G + L->b8, dlogits, w[WS_D5], P + L->w8, B, L->H2, L->C);
    FN(block_backward)(L, &b5, P, G, w[WS_D1], w, masks + (size_t)B * L->H1, B, train, p, w[WS_GD1]);
    FN(block_backward)(L, &b1, P, G, w[WS_A], w, masks, B, train, p, w[WS_GA]);
    FN(nn_leaky_relu_backward)(w[WS_GZ], w[WS_GA], w[WS_Z], (size_t)B * K * R, L->leaky);
    if (denc)
        memset(denc, 0, sizeof(real) * (size_t)B * R * R);
    FN(nn_linear_backward)(denc, G + L->red_w, G + L->red_b, w[WS_GZ], enc, P + L->red_w, B * R, R, K);
}

#include "nn/real_end.h"
