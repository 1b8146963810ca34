/* core/brainmass/bm_finetune_head.c - the fine-tune readout + classifier
 * passes (bm_finetune_head_impl.h) compiled for float and double, and the
 * layout helpers they share. */
#include <string.h>
#include "bm_finetune_internal.h"

/* Activation slots of one batch, in this order inside ws; the gradient
 * temporaries (WS_G_FIRST on) are zeroed together by the backward pass. */
enum {
    WS_Z, WS_A, WS_Y1, WS_MEAN1, WS_RSTD1, WS_N1, WS_L1, WS_D1,
    WS_Y4, WS_MEAN5, WS_RSTD5, WS_N5, WS_L5, WS_D5,
    WS_GZ, WS_GA, WS_GY1, WS_GN1, WS_GL1, WS_GD1, WS_GY4, WS_GN5, WS_GL5, WS_GD5,
    FT_WS_COUNT,
    WS_G_FIRST = WS_GZ
};

/* o[i] = start of slot i, o[FT_WS_COUNT] = total (elements). */
static void ws_offsets(const bm_ft_layout *L, int B, size_t *o)
{
    const size_t b = (size_t)B, E = (size_t)L->K * L->R, h1 = b * L->H1, h2 = b * L->H2;
    const size_t sz[FT_WS_COUNT] = {
        b * E, b * E, h1, (size_t)L->H1, (size_t)L->H1, h1, h1, h1,
        h2, (size_t)L->H2, (size_t)L->H2, h2, h2, h2,
        b * E, b * E, h1, h1, h1, h1, h2, h2, h2, h2};
    o[0] = 0;
    for (int i = 0; i < FT_WS_COUNT; i++)
        o[i + 1] = o[i] + sz[i];
}

/* One hidden block (Linear -> BatchNorm -> LeakyReLU -> Dropout): its
 * parameter offsets, widths and workspace slots. */
typedef struct ft_block {
    size_t w, b, bn_w, bn_b, rm, rv;
    int in, out;
    int y, mean, rstd, n, l, d;   /* activations */
    int gy, gn, gl, gd;           /* gradients (gd: of the block output d) */
} ft_block;

static void ft_blocks(const bm_ft_layout *L, ft_block *b1, ft_block *b5)
{
    *b1 = (ft_block){L->w0, L->b0, L->bn1_w, L->bn1_b, L->rm1, L->rv1, L->K * L->R, L->H1,
                     WS_Y1, WS_MEAN1, WS_RSTD1, WS_N1, WS_L1, WS_D1, WS_GY1, WS_GN1, WS_GL1, WS_GD1};
    *b5 = (ft_block){L->w4, L->b4, L->bn5_w, L->bn5_b, L->rm5, L->rv5, L->H1, L->H2,
                     WS_Y4, WS_MEAN5, WS_RSTD5, WS_N5, WS_L5, WS_D5, WS_GY4, WS_GN5, WS_GL5, WS_GD5};
}

size_t bm_ft_ws_size(const bm_ft_layout *L, int B)
{
    size_t o[FT_WS_COUNT + 1];
    ws_offsets(L, B, o);
    return o[FT_WS_COUNT];
}

size_t bm_ft_mask_size(const bm_ft_layout *L, int B)
{
    return (size_t)B * (size_t)(L->H1 + L->H2);
}

void bm_ft_layout_pack(bm_ft_layout *L)
{
    size_t n = 0, E = (size_t)L->K * L->R;
#define TAKE(field, count) (L->field = n, n += (count))
    TAKE(red_w, (size_t)L->K * L->R);
    TAKE(red_b, (size_t)L->K);
    TAKE(w0, (size_t)L->H1 * E);
    TAKE(b0, (size_t)L->H1);
    TAKE(bn1_w, (size_t)L->H1);
    TAKE(bn1_b, (size_t)L->H1);
    TAKE(w4, (size_t)L->H2 * L->H1);
    TAKE(b4, (size_t)L->H2);
    TAKE(bn5_w, (size_t)L->H2);
    TAKE(bn5_b, (size_t)L->H2);
    TAKE(w8, (size_t)L->C * L->H2);
    TAKE(b8, (size_t)L->C);
    TAKE(rm1, (size_t)L->H1);
    TAKE(rv1, (size_t)L->H1);
    TAKE(rm5, (size_t)L->H2);
    TAKE(rv5, (size_t)L->H2);
#undef TAKE
    L->n = n;
}

#include "bm_finetune_head_impl.h"
#define NN_DOUBLE
#include "bm_finetune_head_impl.h"
#undef NN_DOUBLE
