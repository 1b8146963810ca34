/* tests/test_finetune_grad.c - gradients of the fine-tuned BrainMass model
 * (encoder + readout + classifier head + cross-entropy).
 *
 * 1. A double-precision twin of the whole path: the transformer layers
 *    rebuilt from the nn core's double ops (nn_mha_forward_d, LayerNorm,
 *    linear, ReLU) and the library's own readout + head in double
 *    (bm_ft_head_forward_d / _backward_d, the same source as the float
 *    model).  Its analytic gradient of the mean cross-entropy with respect to
 *    EVERY parameter and the input FC is checked against central finite
 *    differences (step 1e-6): |analytic - numeric| <= 1e-7 + 1e-5 |numeric|.
 *    Train mode (batch-statistics BatchNorm, head dropout 0.3 with fixed
 *    masks) and eval mode (running statistics) are both checked.
 * 2. The production float path (BrainMass's encoder kernels + the float
 *    head) must agree with that double gradient for every tensor:
 *    |float - double| <= 2e-5 max|double| + 1e-3 |double|, max over the
 *    tensor; the biases feeding a train-mode BatchNorm, whose exact gradient
 *    is 0, must be 0 in double (< 1e-12) and round-off in float (< 1e-6).
 *    Loss within 1e-5 relative, logits within 1e-5 absolute.
 * 3. With encoder dropout (BrainMass's own masks) and head dropout on, the
 *    float gradient against directional finite differences of the float
 *    loss (3 random directions, within 5e-3 + 1 %). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/brainmass/bm_finetune_internal.h"
#include "brainstage/rng.h"
#include "testutil.h"

#define FD_STEP 1e-6
#define FD_ATOL 1e-7
#define FD_RTOL 1e-5

enum { R = 6, DEPTH = 2, HEADS = 2, FFN = 8, K = 3, H1 = 5, H2 = 4, C = 3, B = 4 };

/* ---- double encoder (post-norm TransformerEncoderLayer, ReLU, no dropout) ---- */

typedef struct dlayer {
    double *in_w, *in_b, *out_w, *out_b, *l1_w, *l1_b, *l2_w, *l2_b, *n1_w, *n1_b, *n2_w, *n2_b;
} dlayer;

typedef struct dcache {
    double *x, *qkv, *ctx, *att, *a, *s1, *h1, *m1, *r1, *u, *ur, *f, *s2, *m2, *r2;
} dcache;

static const char *lnames[12] = {"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                 "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                 "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"};
static const size_t lsize[12] = {3 * R * R, 3 * R, R * R, R, FFN * R, FFN, R * FFN, R, R, R, R, R};

static double *alloc_d(size_t n) { return calloc(n, sizeof(double)); }

static void cache_alloc(dcache *c)
{
    const size_t N = (size_t)B * R;
    c->x = alloc_d(N * R);
    c->qkv = alloc_d(N * 3 * R);
    c->ctx = alloc_d(N * R);
    c->att = alloc_d((size_t)B * HEADS * R * R);
    c->a = alloc_d(N * R);
    c->s1 = alloc_d(N * R);
    c->h1 = alloc_d(N * R);
    c->m1 = alloc_d(N);
    c->r1 = alloc_d(N);
    c->u = alloc_d(N * FFN);
    c->ur = alloc_d(N * FFN);
    c->f = alloc_d(N * R);
    c->s2 = alloc_d(N * R);
    c->m2 = alloc_d(N);
    c->r2 = alloc_d(N);
}

static void cache_free(dcache *c)
{
    double **p = (double **)c;
    for (size_t i = 0; i < sizeof *c / sizeof(double *); i++)
        free(p[i]);
}

static void enc_forward(const dlayer *Lw, dcache *cache, const double *x, double *out)
{
    const int N = B * R;
    const float eps = 1e-5f;
    for (int l = 0; l < DEPTH; l++) {
        const dlayer *w = &Lw[l];
        dcache *c = &cache[l];
        memcpy(c->x, l ? out : x, sizeof(double) * (size_t)N * R);
        nn_mha_forward_d(c->a, c->qkv, c->ctx, c->att, NULL, c->x, w->in_w, w->in_b, w->out_w, w->out_b, B, R, R,
                         HEADS, NULL);
        nn_add_forward_d(c->s1, c->x, c->a, (size_t)N * R);
        nn_layernorm_forward_d(c->h1, c->m1, c->r1, c->s1, w->n1_w, w->n1_b, N, R, eps);
        nn_linear_forward_d(c->u, c->h1, w->l1_w, w->l1_b, N, R, FFN);
        nn_relu_forward_d(c->ur, c->u, (size_t)N * FFN);
        nn_linear_forward_d(c->f, c->ur, w->l2_w, w->l2_b, N, FFN, R);
        nn_add_forward_d(c->s2, c->h1, c->f, (size_t)N * R);
        nn_layernorm_forward_d(out, c->m2, c->r2, c->s2, w->n2_w, w->n2_b, N, R, eps);
    }
}

/* dy [N,R] (consumed) -> dx [N,R]; parameter gradients added into G. */
static void enc_backward(const dlayer *Lw, dlayer *Gw, const dcache *cache, double *dy, double *dx)
{
    const int N = B * R;
    const size_t nd = (size_t)N * R;
    double *ds2 = alloc_d(nd), *dh1 = alloc_d(nd), *df = alloc_d(nd), *dur = alloc_d((size_t)N * FFN);
    double *du = alloc_d((size_t)N * FFN), *ds1 = alloc_d(nd), *da = alloc_d(nd), *dxl = alloc_d(nd);
    double *dqkv = alloc_d(nd * 3), *dctx = alloc_d(nd);
    for (int l = DEPTH - 1; l >= 0; l--) {
        const dlayer *w = &Lw[l];
        dlayer *g = &Gw[l];
        const dcache *c = &cache[l];
        memset(ds2, 0, nd * sizeof(double));
        memset(dh1, 0, nd * sizeof(double));
        memset(df, 0, nd * sizeof(double));
        memset(dur, 0, (size_t)N * FFN * sizeof(double));
        memset(du, 0, (size_t)N * FFN * sizeof(double));
        memset(ds1, 0, nd * sizeof(double));
        memset(da, 0, nd * sizeof(double));
        memset(dxl, 0, nd * sizeof(double));
        nn_layernorm_backward_d(ds2, g->n2_w, g->n2_b, dy, c->s2, c->m2, c->r2, w->n2_w, N, R);
        nn_add_backward_d(dh1, df, ds2, nd);
        nn_linear_backward_d(dur, g->l2_w, g->l2_b, df, c->ur, w->l2_w, N, FFN, R);
        nn_relu_backward_d(du, dur, c->u, (size_t)N * FFN);
        nn_linear_backward_d(dh1, g->l1_w, g->l1_b, du, c->h1, w->l1_w, N, R, FFN);
        nn_layernorm_backward_d(ds1, g->n1_w, g->n1_b, dh1, c->s1, c->m1, c->r1, w->n1_w, N, R);
        nn_add_backward_d(dxl, da, ds1, nd);
        nn_mha_backward_d(dxl, g->in_w, g->in_b, g->out_w, g->out_b, dqkv, dctx, da, c->x, c->qkv, c->ctx, c->att,
                          NULL, w->in_w, w->out_w, B, R, R, HEADS, NULL);
        memcpy(dy, dxl, nd * sizeof(double));
    }
    memcpy(dx, dy, nd * sizeof(double));
    free(ds2), free(dh1), free(df), free(dur), free(du), free(ds1), free(da), free(dxl), free(dqkv), free(dctx);
}

/* ---- the double model ---- */

typedef struct dmodel {
    dlayer w[DEPTH], g[DEPTH];
    double *enc_params, *enc_grads; /* all layer tensors, in lnames order per layer */
    size_t enc_n;
    bm_ft_layout L;                  /* packed */
    double *P, *G;
    dcache cache[DEPTH];
    double *x, *dx, *eout, *ws, *logits, *probs, *dlogits;
    uint8_t *masks;
    int32_t y[B];
    uint64_t head_seed;
    int train;
} dmodel;

static void bind_layers(double *base, dlayer *L)
{
    for (int l = 0; l < DEPTH; l++) {
        double **slot = (double **)&L[l];
        for (int t = 0; t < 12; t++) {
            slot[t] = base;
            base += lsize[t];
        }
    }
}

/* Copies every float tensor of ft into the double model. */
static void dmodel_init(dmodel *d, bs_finetune *ft)
{
    memset(d, 0, sizeof *d);
    d->enc_n = 0;
    for (int t = 0; t < 12; t++)
        d->enc_n += lsize[t];
    d->enc_n *= DEPTH;
    d->enc_params = alloc_d(d->enc_n);
    d->enc_grads = alloc_d(d->enc_n);
    bind_layers(d->enc_params, d->w);
    bind_layers(d->enc_grads, d->g);
    for (int l = 0; l < DEPTH; l++)
        for (int t = 0; t < 12; t++) {
            char name[160];
            snprintf(name, sizeof name, "online_network.attention_list.%d.%s", l, lnames[t]);
            bs_finetune_tensor tt;
            CHECK(bs_finetune_tensor_find(ft, name, &tt) == 0);
            double *dst = ((double **)&d->w[l])[t];
            for (size_t i = 0; i < lsize[t]; i++)
                dst[i] = tt.data[i];
        }
    d->L = ft->L;
    bm_ft_layout_pack(&d->L);
    d->P = alloc_d(d->L.n);
    d->G = alloc_d(d->L.n);
    const size_t E = (size_t)K * R;
    struct { size_t src, dst, n; } map[] = {
        {ft->L.red_w, d->L.red_w, (size_t)K * R}, {ft->L.red_b, d->L.red_b, K}, {ft->L.w0, d->L.w0, H1 * E},
        {ft->L.b0, d->L.b0, H1}, {ft->L.bn1_w, d->L.bn1_w, H1}, {ft->L.bn1_b, d->L.bn1_b, H1},
        {ft->L.w4, d->L.w4, H2 * H1}, {ft->L.b4, d->L.b4, H2}, {ft->L.bn5_w, d->L.bn5_w, H2},
        {ft->L.bn5_b, d->L.bn5_b, H2}, {ft->L.w8, d->L.w8, C * H2}, {ft->L.b8, d->L.b8, C},
        {ft->L.rm1, d->L.rm1, H1}, {ft->L.rv1, d->L.rv1, H1}, {ft->L.rm5, d->L.rm5, H2}, {ft->L.rv5, d->L.rv5, H2}};
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++)
        for (size_t i = 0; i < map[m].n; i++)
            d->P[map[m].dst + i] = ft->head.data[map[m].src + i];
    for (int l = 0; l < DEPTH; l++)
        cache_alloc(&d->cache[l]);
    const size_t nx = (size_t)B * R * R;
    d->x = alloc_d(nx);
    d->dx = alloc_d(nx);
    d->eout = alloc_d(nx);
    d->ws = alloc_d(bm_ft_ws_size(&d->L, B));
    d->logits = alloc_d(B * C);
    d->probs = alloc_d(B * C);
    d->dlogits = alloc_d(B * C);
    d->masks = calloc(bm_ft_mask_size(&d->L, B), 1);
}

static void dmodel_free(dmodel *d)
{
    free(d->enc_params), free(d->enc_grads), free(d->P), free(d->G), free(d->x), free(d->dx), free(d->eout);
    free(d->ws), free(d->logits), free(d->probs), free(d->dlogits), free(d->masks);
    for (int l = 0; l < DEPTH; l++)
        cache_free(&d->cache[l]);
}

/* The running statistics are restored around every evaluation, so train-mode
 * forwards (which move them) leave the function the FD check sees fixed. */
static double dmodel_loss(dmodel *d)
{
    double keep[2 * (H1 + H2)];
    memcpy(keep, d->P + d->L.rm1, sizeof keep);
    enc_forward(d->w, d->cache, d->x, d->eout);
    bm_ft_head_forward_d(&d->L, d->P, d->eout, B, d->train, d->head_seed, d->ws, d->masks, d->logits);
    memcpy(d->P + d->L.rm1, keep, sizeof keep);
    return nn_cross_entropy_forward_d(d->probs, d->logits, d->y, B, C);
}

static double dmodel_grad(dmodel *d)
{
    double loss = dmodel_loss(d);
    memset(d->G, 0, sizeof(double) * d->L.n);
    memset(d->enc_grads, 0, sizeof(double) * d->enc_n);
    memset(d->dlogits, 0, sizeof(double) * B * C);
    nn_cross_entropy_backward_d(d->dlogits, d->probs, d->y, B, C, 1.0);
    double *denc = alloc_d((size_t)B * R * R);
    bm_ft_head_backward_d(&d->L, d->P, d->G, d->eout, B, d->train, d->dlogits, d->ws, d->masks, denc);
    enc_backward(d->w, d->g, d->cache, denc, d->dx);
    free(denc);
    return loss;
}

/* Central differences of every element of x[0..n) against grad. */
static void fd_check(dmodel *d, const char *what, double *x, const double *grad, size_t n)
{
    double worst = 0, wa = 0, wn = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + FD_STEP;
        double lp = dmodel_loss(d);
        x[i] = keep - FD_STEP;
        double lm = dmodel_loss(d);
        x[i] = keep;
        double num = (lp - lm) / (2 * FD_STEP);
        double ratio = fabs(grad[i] - num) / (FD_ATOL + FD_RTOL * fabs(num));
        if (!(ratio <= worst)) {
            worst = isnan(ratio) ? INFINITY : ratio;
            wi = i, wa = grad[i], wn = num;
        }
    }
    CHECK_MSG(worst <= 1.0, "%s: element %zu analytic %.12g numeric %.12g (%.3g x tolerance)", what, wi, wa, wn, worst);
    fprintf(stderr, "  fd %-44s %4zu elements, worst %.3g x tolerance\n", what, n, worst);
}

static void check_fd(dmodel *d, const char *mode)
{
    dmodel_grad(d);
    /* snapshot the analytic gradients: the FD loop reuses the buffers */
    double *ge = alloc_d(d->enc_n), *gh = alloc_d(d->L.n), *gx = alloc_d((size_t)B * R * R);
    memcpy(ge, d->enc_grads, sizeof(double) * d->enc_n);
    memcpy(gh, d->G, sizeof(double) * d->L.n);
    memcpy(gx, d->dx, sizeof(double) * B * R * R);
    char what[96];
    snprintf(what, sizeof what, "%s: encoder layers", mode);
    fd_check(d, what, d->enc_params, ge, d->enc_n);
    snprintf(what, sizeof what, "%s: readout + head", mode);
    fd_check(d, what, d->P, gh, d->L.rm1); /* every parameter; the running stats follow rm1 */
    snprintf(what, sizeof what, "%s: input FC", mode);
    fd_check(d, what, d->x, gx, (size_t)B * R * R);
    free(ge), free(gh), free(gx);
}

/* Float production gradients vs the double ones, tensor by tensor. */
static void compare_float(bs_finetune *ft, dmodel *d, int train, const char *mode)
{
    double worst = 0;
    const char *wname = "";
    for (int i = 0; i < bs_finetune_tensor_count(ft); i++) {
        bs_finetune_tensor t;
        bs_finetune_tensor_get(ft, i, &t);
        if (!t.grad)
            continue;
        const double *gd = NULL;
        size_t n = 1;
        for (int k = 0; k < t.ndim; k++)
            n *= (size_t)t.shape[k];
        int l, idx = -1;
        char rest[128];
        if (sscanf(t.name, "online_network.attention_list.%d.%127s", &l, rest) == 2) {
            for (int k = 0; k < 12; k++)
                if (!strcmp(rest, lnames[k]))
                    idx = k;
            gd = ((double **)&d->g[l])[idx];
        } else {
            struct { const char *name; size_t off; } hm[] = {
                {"online_network.dim_reduction.0.weight", d->L.red_w}, {"online_network.dim_reduction.0.bias", d->L.red_b},
                {"classifier.net.0.weight", d->L.w0}, {"classifier.net.0.bias", d->L.b0},
                {"classifier.net.1.weight", d->L.bn1_w}, {"classifier.net.1.bias", d->L.bn1_b},
                {"classifier.net.4.weight", d->L.w4}, {"classifier.net.4.bias", d->L.b4},
                {"classifier.net.5.weight", d->L.bn5_w}, {"classifier.net.5.bias", d->L.bn5_b},
                {"classifier.net.8.weight", d->L.w8}, {"classifier.net.8.bias", d->L.b8}};
            for (size_t k = 0; k < sizeof hm / sizeof hm[0]; k++)
                if (!strcmp(t.name, hm[k].name))
                    gd = d->G + hm[k].off;
        }
        CHECK_MSG(gd != NULL, "no double gradient for %s", t.name);
        if (!gd)
            continue;
        double mx = 0;
        for (size_t k = 0; k < n; k++)
            mx = fmax(mx, fabs(gd[k]));
        if (train && (!strcmp(t.name, "classifier.net.0.bias") || !strcmp(t.name, "classifier.net.4.bias"))) {
            /* a bias feeding a train-mode BatchNorm: the exact gradient is 0
             * (the batch mean removes it); float leaves round-off only */
            for (size_t k = 0; k < n; k++)
                CHECK_MSG(fabs(gd[k]) < 1e-12 && fabs(t.grad[k]) < 1e-6, "%s[%zu]: float %.3g double %.3g, expected 0",
                          t.name, k, t.grad[k], gd[k]);
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            double tol = 2e-5 * mx + 1e-12 + 1e-3 * fabs(gd[k]);
            double r = fabs(t.grad[k] - gd[k]) / tol;
            if (r > worst)
                worst = r, wname = t.name;
            CHECK_MSG(r <= 1.0, "%s %s[%zu]: float %.9g double %.9g", mode, t.name, k, t.grad[k], gd[k]);
            if (r > 1.0)
                break;
        }
    }
    fprintf(stderr, "  float vs double (%s): worst %.3g x tolerance (%s)\n", mode, worst, wname);
}

/* The tiny model of these checks (head dropout 0.3, random encoder). */
static bs_finetune *tiny_model(double encoder_dropout, uint64_t seed)
{
    bs_error err = {0};
    bs_brainmass_config arch;
    bs_brainmass_config_small(&arch, R);
    arch.depth = DEPTH;
    arch.heads = HEADS;
    arch.ffn = FFN;
    arch.reduce_dim = K;
    arch.dropout = encoder_dropout;
    bs_finetune_config cfg;
    bs_finetune_config_default(&cfg);
    cfg.hidden1 = H1;
    cfg.hidden2 = H2;
    cfg.seed = seed;
    bs_finetune *ft = bs_finetune_new(NULL, &arch, C, NULL, &cfg, &err);
    CHECK_MSG(ft != NULL, "%s", err.message);
    return ft;
}

static void run_mode(int train)
{
    const char *mode = train ? "train mode" : "eval mode";
    bs_error err = {0};
    bs_finetune *ft = tiny_model(0.0, 11);
    if (!ft)
        return;
    /* non-trivial BatchNorm running statistics for the eval-mode check */
    bs_rng *rng = bs_rng_derive(5, (uint64_t)train);
    for (int j = 0; j < H1 + H2; j++) {
        size_t m = j < H1 ? ft->L.rm1 + j : ft->L.rm5 + (j - H1), v = j < H1 ? ft->L.rv1 + j : ft->L.rv5 + (j - H1);
        ft->head.data[m] = (float)(0.2 * bs_rng_gaussian(rng, 1.0));
        ft->head.data[v] = (float)(0.5 + bs_rng_uniform(rng));
    }
    float fc[B * R * R];
    int32_t y[B];
    for (int i = 0; i < B * R * R; i++)
        fc[i] = (float)(2 * bs_rng_uniform(rng) - 1);
    for (int b = 0; b < B; b++)
        y[b] = b % C;
    bs_rng_free(rng);

    dmodel d;
    dmodel_init(&d, ft);
    d.train = train;
    d.head_seed = bm_ft_head_seed(ft); /* the dropout masks of the float step */
    for (int i = 0; i < B * R * R; i++)
        d.x[i] = fc[i];
    memcpy(d.y, y, sizeof y);
    double loss_d = dmodel_grad(&d);

    double loss_f = 0;
    float logits[B * C];
    CHECK_MSG(bs_finetune_compute_grads(ft, fc, y, B, train, &loss_f, logits, &err) == BS_OK, "%s", err.message);
    CHECK_CLOSE(loss_f, loss_d, 0, 1e-5);
    for (int i = 0; i < B * C; i++)
        CHECK_CLOSE(logits[i], d.logits[i], 1e-5, 0);
    fprintf(stderr, "%s: loss float %.9f double %.9f\n", mode, loss_f, loss_d);
    compare_float(ft, &d, train, mode);
    check_fd(&d, mode);
    dmodel_free(&d);
    bs_finetune_free(ft);
}

/* 3. With dropout in the encoder (0.1, BrainMass's masks) and the head
 * (0.3), the float gradient must agree with directional finite differences
 * of the float loss: (L(p + e v) - L(p - e v)) / 2e vs g . v for random
 * directions v over all parameters.  The masks are a
 * function of (seed, step), so repeated evaluations see the same ones.
 * Step 1e-4: float round-off of the loss (~1e-7) then limits the
 * difference to ~1e-3, hence atol 5e-3 + rtol 1e-2. */
static void check_dropout_directions(void)
{
    bs_error err = {0};
    bs_finetune *ft = tiny_model(0.1, 3);
    if (!ft)
        return;
    bs_rng *rng = bs_rng_derive(8, 1);
    float fc[B * R * R];
    int32_t y[B];
    for (int i = 0; i < B * R * R; i++)
        fc[i] = (float)(2 * bs_rng_uniform(rng) - 1);
    for (int b = 0; b < B; b++)
        y[b] = (b + 1) % C;
    double loss;
    CHECK(bs_finetune_compute_grads(ft, fc, y, B, 1, &loss, NULL, &err) == BS_OK);
    /* the gradient and the start point, kept: later evaluations overwrite
     * the gradients, and float (p + e v) - e v is not exactly p */
    const int nt = bs_finetune_tensor_count(ft);
    float **g0 = calloc((size_t)nt, sizeof *g0), **p0 = calloc((size_t)nt, sizeof *p0);
    float **v = calloc((size_t)nt, sizeof *v);
    size_t *len = calloc((size_t)nt, sizeof *len);
    for (int i = 0; i < nt; i++) {
        bs_finetune_tensor t;
        bs_finetune_tensor_get(ft, i, &t);
        if (!t.grad)
            continue;
        len[i] = 1;
        for (int k = 0; k < t.ndim; k++)
            len[i] *= (size_t)t.shape[k];
        g0[i] = malloc(len[i] * sizeof(float));
        p0[i] = malloc(len[i] * sizeof(float));
        v[i] = malloc(len[i] * sizeof(float));
        memcpy(g0[i], t.grad, len[i] * sizeof(float));
        memcpy(p0[i], t.data, len[i] * sizeof(float));
    }
    const double eps = 1e-4;
    for (int dir = 0; dir < 3; dir++) {
        double gv = 0, l[2] = {0, 0};
        for (int i = 0; i < nt; i++)
            for (size_t k = 0; k < len[i]; k++) {
                v[i][k] = (float)bs_rng_gaussian(rng, 1.0);
                gv += (double)g0[i][k] * v[i][k];
            }
        for (int side = 0; side < 2; side++) {
            for (int i = 0; i < nt; i++) {
                bs_finetune_tensor t;
                bs_finetune_tensor_get(ft, i, &t);
                for (size_t k = 0; k < len[i]; k++)
                    t.data[k] = p0[i][k] + (float)((side ? -eps : eps) * v[i][k]);
            }
            CHECK(bs_finetune_compute_grads(ft, fc, y, B, 1, &l[side], NULL, &err) == BS_OK);
        }
        double num = (l[0] - l[1]) / (2 * eps);
        fprintf(stderr, "dropout on: direction %d: g.v %.6f, finite difference %.6f\n", dir, gv, num);
        CHECK_MSG(fabs(gv - num) <= 5e-3 + 0.01 * fabs(num), "direction %d: g.v %.6g vs %.6g", dir, gv, num);
    }
    for (int i = 0; i < nt; i++)
        free(g0[i]), free(p0[i]), free(v[i]);
    free(g0), free(p0), free(v), free(len);
    bs_rng_free(rng);
    bs_finetune_free(ft);
}

int main(void)
{
    run_mode(1);
    run_mode(0);
    check_dropout_directions();
    return TEST_RESULT();
}
