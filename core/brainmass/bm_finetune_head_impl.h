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

void FN(bm_ft_head_forward)(const bm_ft_layout *L, real *P, const real *enc, int B, int train, uint64_t seed,
                            real *ws, uint8_t *masks, real *logits)
{
    real *w[FT_WS_COUNT];
    FN(ws_split)(L, B, ws, w);
    const int R = L->R, K = L->K, H1 = L->H1, H2 = L->H2, E = K * R;
    const float p = train ? L->dropout : 0.0f;
    uint8_t *m1 = masks, *m5 = masks + (size_t)B * H1;

    FN(nn_linear_forward)(w[WS_Z], enc, P + L->red_w, P + L->red_b, B * R, R, K);
    FN(nn_leaky_relu_forward)(w[WS_A], w[WS_Z], (size_t)B * E, L->leaky);

    FN(nn_linear_forward)(w[WS_Y1], w[WS_A], P + L->w0, P + L->b0, B, E, H1);
    if (train)
        FN(nn_batchnorm_forward_train)(w[WS_N1], w[WS_MEAN1], w[WS_RSTD1], P + L->rm1, P + L->rv1, w[WS_Y1],
                                     P + L->bn1_w, P + L->bn1_b, B, H1, L->bn_eps, L->bn_momentum);
    else
        FN(nn_batchnorm_forward_eval)(w[WS_N1], w[WS_Y1], P + L->bn1_w, P + L->bn1_b, P + L->rm1, P + L->rv1, B,
                                    H1, L->bn_eps);
    FN(nn_leaky_relu_forward)(w[WS_L1], w[WS_N1], (size_t)B * H1, L->leaky);
    FN(nn_dropout_forward)(w[WS_D1], m1, w[WS_L1], (size_t)B * H1, p, nn_seed_mix(seed, 1, 0));

    FN(nn_linear_forward)(w[WS_Y4], w[WS_D1], P + L->w4, P + L->b4, B, H1, H2);
    if (train)
        FN(nn_batchnorm_forward_train)(w[WS_N5], w[WS_MEAN5], w[WS_RSTD5], P + L->rm5, P + L->rv5, w[WS_Y4],
                                     P + L->bn5_w, P + L->bn5_b, B, H2, L->bn_eps, L->bn_momentum);
    else
        FN(nn_batchnorm_forward_eval)(w[WS_N5], w[WS_Y4], P + L->bn5_w, P + L->bn5_b, P + L->rm5, P + L->rv5, B,
                                    H2, L->bn_eps);
    FN(nn_leaky_relu_forward)(w[WS_L5], w[WS_N5], (size_t)B * H2, L->leaky);
    FN(nn_dropout_forward)(w[WS_D5], m5, w[WS_L5], (size_t)B * H2, p, nn_seed_mix(seed, 5, 0));

    FN(nn_linear_forward)(logits, w[WS_D5], P + L->w8, P + L->b8, B, H2, L->C);
}

void FN(bm_ft_head_backward)(const bm_ft_layout *L, const real *P, real *G, const real *enc, int B, int train,
                             const real *dlogits, real *ws, const uint8_t *masks, real *denc)
{
    real *w[FT_WS_COUNT];
    FN(ws_split)(L, B, ws, w);
    const int R = L->R, K = L->K, H1 = L->H1, H2 = L->H2, E = K * R;
    const float p = train ? L->dropout : 0.0f;
    const uint8_t *m1 = masks, *m5 = masks + (size_t)B * H1;
    /* the nn backward ops accumulate: start every gradient temporary at 0 */
    size_t o[FT_WS_COUNT + 1];
    ws_offsets(L, B, o);
    memset(w[WS_G_FIRST], 0, sizeof(real) * (o[FT_WS_COUNT] - o[WS_G_FIRST]));

    FN(nn_linear_backward)(w[WS_GD5], G + L->w8, G + L->b8, dlogits, w[WS_D5], P + L->w8, B, H2, L->C);
    FN(nn_dropout_backward)(w[WS_GL5], w[WS_GD5], m5, (size_t)B * H2, p);
    FN(nn_leaky_relu_backward)(w[WS_GN5], w[WS_GL5], w[WS_N5], (size_t)B * H2, L->leaky);
    if (train)
        FN(nn_batchnorm_backward)(w[WS_GY4], G + L->bn5_w, G + L->bn5_b, w[WS_GN5], w[WS_Y4], w[WS_MEAN5],
                                w[WS_RSTD5], P + L->bn5_w, B, H2);
    else
        FN(nn_batchnorm_backward_eval)(w[WS_GY4], G + L->bn5_w, G + L->bn5_b, w[WS_GN5], w[WS_Y4], P + L->bn5_w,
                                     P + L->rm5, P + L->rv5, B, H2, L->bn_eps);

    FN(nn_linear_backward)(w[WS_GD1], G + L->w4, G + L->b4, w[WS_GY4], w[WS_D1], P + L->w4, B, H1, H2);
    FN(nn_dropout_backward)(w[WS_GL1], w[WS_GD1], m1, (size_t)B * H1, p);
    FN(nn_leaky_relu_backward)(w[WS_GN1], w[WS_GL1], w[WS_N1], (size_t)B * H1, L->leaky);
    if (train)
        FN(nn_batchnorm_backward)(w[WS_GY1], G + L->bn1_w, G + L->bn1_b, w[WS_GN1], w[WS_Y1], w[WS_MEAN1],
                                w[WS_RSTD1], P + L->bn1_w, B, H1);
    else
        FN(nn_batchnorm_backward_eval)(w[WS_GY1], G + L->bn1_w, G + L->bn1_b, w[WS_GN1], w[WS_Y1], P + L->bn1_w,
                                     P + L->rm1, P + L->rv1, B, H1, L->bn_eps);

    FN(nn_linear_backward)(w[WS_GA], G + L->w0, G + L->b0, w[WS_GY1], w[WS_A], P + L->w0, B, E, H1);
    FN(nn_leaky_relu_backward)(w[WS_GZ], w[WS_GA], w[WS_Z], (size_t)B * E, L->leaky);
    if (denc)
        memset(denc, 0, sizeof(real) * (size_t)B * R * R);
    FN(nn_linear_backward)(denc, G + L->red_w, G + L->red_b, w[WS_GZ], enc, P + L->red_w, B * R, R, K);
}

#include "nn/real_end.h"
