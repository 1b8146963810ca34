/* core/brainmass/bm_model.c - BrainMass configuration, parameter layout with
 * the reference state_dict names, PyTorch-default initialisation (nn core
 * initialisers), named
 * tensor access and workspace management. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/nn.h"
#include "brainstage/tensor.h"
#include "bm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void bs_brainmass_config_default(bs_brainmass_config *c)
{
    memset(c, 0, sizeof *c);
    c->rois = 100;
    c->depth = 16;
    c->heads = 10;
    c->ffn = 2048;
    c->feature_dim = 1024;
    c->reduce_dim = 8;
    c->mrm_mask = 5;
    c->nce_mask = 10;
    c->dropout = 0.1;
    c->momentum = 0.996;
    c->w_byol = 1.0;
    c->w_nce = 0.1;
    c->w_mse = 2.0;
    c->ln_eps = 1e-5;
    c->bn_eps = 1e-5;
    c->bn_momentum = 0.1;
    c->leaky_slope = 0.01;
    c->train_extras = 1;
}

void bs_brainmass_config_small(bs_brainmass_config *c, int rois)
{
    bs_brainmass_config_default(c);
    c->rois = rois;
    c->depth = 2;
    c->heads = 2;
    while (c->heads > 1 && rois % c->heads)
        c->heads--;
    c->ffn = 128;
    c->feature_dim = 64;
    c->mrm_mask = rois >= 10 ? 5 : 1;
    c->nce_mask = rois >= 20 ? 10 : (rois >= 4 ? rois / 2 : 1);
}

int bs_brainmass_config_validate(const bs_brainmass_config *c, bs_error *err)
{
    if (c->rois < 2 || c->rois > 4096)
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: rois=%d: expected 2..4096", c->rois);
    if (c->depth < 1 || c->depth > 256)
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: depth=%d: expected 1..256", c->depth);
    if (c->heads < 1 || c->rois % c->heads)
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: heads=%d: expected a divisor of rois=%d",
                            c->heads, c->rois);
    if (c->ffn < 1 || c->feature_dim < 1 || c->reduce_dim < 1 || c->ffn > (1 << 20) ||
        c->feature_dim > (1 << 20) || c->reduce_dim > 4096)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmass: ffn=%d feature_dim=%d reduce_dim=%d: expected positive sizes",
                            c->ffn, c->feature_dim, c->reduce_dim);
    if (c->mrm_mask < 1 || c->mrm_mask > c->rois || c->nce_mask < 1 || c->nce_mask > c->rois)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmass: mrm_mask=%d nce_mask=%d: expected 1..rois (%d)",
                            c->mrm_mask, c->nce_mask, c->rois);
    if (!(c->dropout >= 0.0 && c->dropout < 1.0))
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: dropout=%g: expected [0,1)", c->dropout);
    if (!(c->momentum >= 0.0 && c->momentum <= 1.0))
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: momentum=%g: expected [0,1]", c->momentum);
    if (!(c->ln_eps > 0 && c->bn_eps > 0 && c->bn_momentum >= 0 && c->bn_momentum <= 1))
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: ln_eps/bn_eps/bn_momentum out of range");
    if (!isfinite(c->w_byol) || !isfinite(c->w_nce) || !isfinite(c->w_mse))
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: loss weights must be finite");
    return BS_OK;
}

/* ---- layout ---- */

typedef struct layout {
    bs_brainmass *m;
    size_t cap;
} layout;

static bm_entry *add_entry(layout *L, const char *name, int kind, int ndim, int64_t s0, int64_t s1,
                           int64_t s2)
{
    bs_brainmass *m = L->m;
    if ((size_t)m->n_entries == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        m->entries = realloc(m->entries, L->cap * sizeof *m->entries);
    }
    bm_entry *e = &m->entries[m->n_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->ndim = ndim;
    e->shape[0] = s0;
    e->shape[1] = s1;
    e->shape[2] = s2;
    e->numel = 1;
    for (int i = 0; i < ndim; i++)
        e->numel *= (size_t)e->shape[i];
    return e;
}

/* A trainable parameter in the online block (mirrored in target when `mirror`). */
static size_t add_param(layout *L, const char *prefix, const char *name, int ndim, int64_t s0,
                        int64_t s1, int64_t s2, int mirror, int extra, int no_decay)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    bm_entry *e = add_entry(L, full, BM_KIND_PARAM, ndim, s0, s1, s2);
    e->offset = L->m->n_params;
    e->trainable_extra = extra;
    e->no_decay = no_decay;
    L->m->n_params += e->numel;
    size_t off = e->offset, n = e->numel;
    if (mirror) {
        snprintf(full, sizeof full, "target_network.%s", name);
        bm_entry *t = add_entry(L, full, BM_KIND_TARGET, ndim, s0, s1, s2);
        t->offset = off;
        (void)n;
    }
    return off;
}

static void add_bn_buffers(layout *L, const char *prefix, bm_bn_stats *bn, int n)
{
    char full[160];
    snprintf(full, sizeof full, "%srunning_mean", prefix);
    add_entry(L, full, BM_KIND_BN_MEAN, 1, n, 0, 0)->bn = bn;
    snprintf(full, sizeof full, "%srunning_var", prefix);
    add_entry(L, full, BM_KIND_BN_VAR, 1, n, 0, 0)->bn = bn;
    snprintf(full, sizeof full, "%snum_batches_tracked", prefix);
    add_entry(L, full, BM_KIND_BN_COUNT, 0, 0, 0, 0)->bn = bn;
}

static void head_layout(layout *L, const char *prefix, const char *sub, bm_head_off *h, int n_in,
                        int n_hid, int n_out, int mirror)
{
    char nm[128];
    h->n_in = n_in;
    h->n_hidden = n_hid;
    h->n_out = n_out;
    snprintf(nm, sizeof nm, "%snet.0.weight", sub);
    h->w0 = add_param(L, prefix, nm, 2, n_hid, n_in, 0, mirror, 0, 0);
    snprintf(nm, sizeof nm, "%snet.0.bias", sub);
    h->b0 = add_param(L, prefix, nm, 1, n_hid, 0, 0, mirror, 0, 1);
    snprintf(nm, sizeof nm, "%snet.1.weight", sub);
    h->bn_w = add_param(L, prefix, nm, 1, n_hid, 0, 0, mirror, 0, 1);
    snprintf(nm, sizeof nm, "%snet.1.bias", sub);
    h->bn_b = add_param(L, prefix, nm, 1, n_hid, 0, 0, mirror, 0, 1);
    snprintf(nm, sizeof nm, "%snet.3.weight", sub);
    h->w3 = add_param(L, prefix, nm, 2, n_out, n_hid, 0, mirror, 0, 0);
    snprintf(nm, sizeof nm, "%snet.3.bias", sub);
    h->b3 = add_param(L, prefix, nm, 1, n_out, 0, 0, mirror, 0, 1);
}

static void mlp_layout(layout *L, const char *name, bm_mlp_off *o, int R, int hid)
{
    char nm[128];
    snprintf(nm, sizeof nm, "%s.0.weight", name);
    o->w0 = add_param(L, "", nm, 2, hid, R, 0, 0, 1, 0);
    snprintf(nm, sizeof nm, "%s.0.bias", name);
    o->b0 = add_param(L, "", nm, 1, hid, 0, 0, 0, 1, 1);
    snprintf(nm, sizeof nm, "%s.2.weight", name);
    o->w2 = add_param(L, "", nm, 2, R, hid, 0, 0, 1, 0);
    snprintf(nm, sizeof nm, "%s.2.bias", name);
    o->b2 = add_param(L, "", nm, 1, R, 0, 0, 0, 1, 1);
}

static int build_layout(bs_brainmass *m)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois;
    layout L = {m, 0};
    const char *on = "online_network.";
    char nm[128];
    m->layers = calloc((size_t)c->depth, sizeof *m->layers);
    if (!m->layers)
        return -1;
    for (int l = 0; l < c->depth; l++) {
        bm_layer_off *o = &m->layers[l];
#define LP(field, suffix, nd, a, b, nodecay)                                            \
    snprintf(nm, sizeof nm, "attention_list.%d.%s", l, suffix);                         \
    o->field = add_param(&L, on, nm, nd, a, b, 0, 1, 0, nodecay)
        LP(in_w, "self_attn.in_proj_weight", 2, 3 * R, R, 0);
        LP(in_b, "self_attn.in_proj_bias", 1, 3 * R, 0, 1);
        LP(out_w, "self_attn.out_proj.weight", 2, R, R, 0);
        LP(out_b, "self_attn.out_proj.bias", 1, R, 0, 1);
        LP(l1_w, "linear1.weight", 2, c->ffn, R, 0);
        LP(l1_b, "linear1.bias", 1, c->ffn, 0, 1);
        LP(l2_w, "linear2.weight", 2, R, c->ffn, 0);
        LP(l2_b, "linear2.bias", 1, R, 0, 1);
        LP(n1_w, "norm1.weight", 1, R, 0, 1);
        LP(n1_b, "norm1.bias", 1, R, 0, 1);
        LP(n2_w, "norm2.weight", 1, R, 0, 1);
        LP(n2_b, "norm2.bias", 1, R, 0, 1);
#undef LP
    }
    m->enc_end = m->n_params; /* the layer tensors come first */
    m->red_w = add_param(&L, on, "dim_reduction.0.weight", 2, c->reduce_dim, R, 0, 1, 0, 0);
    m->red_b = add_param(&L, on, "dim_reduction.0.bias", 1, c->reduce_dim, 0, 0, 1, 0, 1);
    int E = c->reduce_dim * R;
    head_layout(&L, on, "g.", &m->g, E, 2 * E, c->feature_dim, 1);
    m->n_online = m->n_params;
    head_layout(&L, "", "predictor.", &m->pred, c->feature_dim, 2 * c->feature_dim, c->feature_dim, 0);
    m->mask_embed = add_param(&L, "", "mask_embed", 3, 1, 1, R, 0, 1, 1);
    m->cls_token = add_param(&L, "", "cls_token", 3, 1, 1, R, 0, 1, 1);
    m->dist_token = add_param(&L, "", "dist_token", 3, 1, 1, R, 0, 1, 1);
    mlp_layout(&L, "cpred", &m->cpred, R, c->ffn);
    mlp_layout(&L, "gpred", &m->gpred, R, c->ffn);
    add_bn_buffers(&L, "online_network.g.net.1.", &m->bn_online, 2 * E);
    add_bn_buffers(&L, "target_network.g.net.1.", &m->bn_target, 2 * E);
    add_bn_buffers(&L, "predictor.net.1.", &m->bn_pred, 2 * c->feature_dim);
    return m->entries ? 0 : -1;
}

/* ---- initialisation (torch defaults) ---- */

static void fill_const(float *p, size_t n, float v)
{
    nn_init_fill(p, n, v);
}

static void init_linear(bs_rng *rng, float *P, size_t w, size_t b, int out, int in)
{
    nn_init_linear(P + w, P + b, in, out, rng);
}

static void init_head(bs_rng *rng, float *P, const bm_head_off *h)
{
    init_linear(rng, P, h->w0, h->b0, h->n_hidden, h->n_in);
    fill_const(P + h->bn_w, (size_t)h->n_hidden, 1.0f);
    fill_const(P + h->bn_b, (size_t)h->n_hidden, 0.0f);
    init_linear(rng, P, h->w3, h->b3, h->n_out, h->n_hidden);
}

/* torch defaults: MHA in_proj xavier-uniform with zero biases (out_proj bias
 * zeroed too), Linear kaiming-uniform(a=sqrt 5), norms 1/0, tokens
 * xavier-normal on [1,1,R] (fan_in = fan_out = R). */
static void init_params(bs_brainmass *m, uint64_t seed)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois;
    bs_rng *rng = bs_rng_derive(seed, 0x1417);
    float *P = m->params;
    for (int l = 0; l < c->depth; l++) {
        const bm_layer_off *o = &m->layers[l];
        nn_init_xavier_uniform(P + o->in_w, R, 3 * R, rng);
        fill_const(P + o->in_b, (size_t)3 * R, 0.0f);
        nn_init_linear(P + o->out_w, NULL, R, R, rng);
        fill_const(P + o->out_b, (size_t)R, 0.0f);
        init_linear(rng, P, o->l1_w, o->l1_b, c->ffn, R);
        init_linear(rng, P, o->l2_w, o->l2_b, R, c->ffn);
        fill_const(P + o->n1_w, (size_t)R, 1.0f);
        fill_const(P + o->n1_b, (size_t)R, 0.0f);
        fill_const(P + o->n2_w, (size_t)R, 1.0f);
        fill_const(P + o->n2_b, (size_t)R, 0.0f);
    }
    init_linear(rng, P, m->red_w, m->red_b, c->reduce_dim, R);
    init_head(rng, P, &m->g);
    init_head(rng, P, &m->pred);
    nn_init_xavier_normal(P + m->mask_embed, (size_t)R, R, R, rng);
    nn_init_xavier_normal(P + m->cls_token, (size_t)R, R, R, rng);
    nn_init_xavier_normal(P + m->dist_token, (size_t)R, R, R, rng);
    init_linear(rng, P, m->cpred.w0, m->cpred.b0, c->ffn, R);
    init_linear(rng, P, m->cpred.w2, m->cpred.b2, R, c->ffn);
    init_linear(rng, P, m->gpred.w0, m->gpred.b0, c->ffn, R);
    init_linear(rng, P, m->gpred.w2, m->gpred.b2, R, c->ffn);
    bs_rng_free(rng);
    memcpy(m->target, m->params, m->n_online * sizeof(float));
}

static int bn_alloc(bm_bn_stats *bn, int n)
{
    bn->mean = bs_alloc_floats((size_t)n);
    bn->var = bs_alloc_floats((size_t)n);
    if (!bn->mean || !bn->var)
        return -1;
    fill_const(bn->var, (size_t)n, 1.0f);
    bn->count = 0;
    return 0;
}

bs_brainmass *bs_brainmass_new(const bs_brainmass_config *cfg, uint64_t seed, bs_error *err)
{
    if (bs_brainmass_config_validate(cfg, err))
        return NULL;
    bs_brainmass *m = calloc(1, sizeof *m);
    if (!m) {
        bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->decay_all = 1;
    m->seed = seed;
    if (build_layout(m))
        goto nomem;
    m->params = bs_alloc_floats(m->n_params);
    m->grads = bs_alloc_floats(m->n_params);
    m->adam_m = bs_alloc_floats(m->n_params);
    m->adam_v = bs_alloc_floats(m->n_params);
    m->target = bs_alloc_floats(m->n_online);
    m->pos_table = bs_alloc_floats((size_t)(cfg->rois + 2) * cfg->rois);
    m->rng = bs_rng_derive(seed, 0x6d61736b);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->target || !m->pos_table || !m->rng)
        goto nomem;
    int E2 = 2 * cfg->reduce_dim * cfg->rois;
    if (bn_alloc(&m->bn_online, E2) || bn_alloc(&m->bn_target, E2) ||
        bn_alloc(&m->bn_pred, 2 * cfg->feature_dim))
        goto nomem;
    nn_sinusoid_table(m->pos_table, cfg->rois + 2, cfg->rois, 10000.0);
    init_params(m, seed);
    return m;
nomem:
    bs_brainmass_free(m);
    bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory allocating the model");
    return NULL;
}

static void free_infer_workspace(bs_brainmass *m)
{
    for (int t = 0; m->iws && t < m->iws_threads; t++) {
        bm_infer_ws *w = &m->iws[t];
        bs_free(w->x);
        bs_free(w->qkv);
        bs_free(w->ctx);
        bs_free(w->s);
        bs_free(w->h);
        bs_free(w->u);
        bs_free(w->att);
        bs_free(w->mask);
    }
    free(m->iws);
    m->iws = NULL;
    m->iws_threads = 0;
    bs_free(m->eval_tok);
    bs_free(m->eval_z);
    bs_free(m->eval_h1);
    bs_free(m->eval_h2);
    m->eval_tok = m->eval_z = m->eval_h1 = m->eval_h2 = NULL;
}

static void free_workspace(bs_brainmass *m)
{
    if (m->cache) {
        for (int l = 0; l <= m->cfg.depth; l++) {
            bm_layer_cache *c = &m->cache[l];
            bs_free(c->x);
            bs_free(c->qkv);
            bs_free(c->prob);
            bs_free(c->adrop);
            bs_free(c->ctx);
            bs_free(c->s1);
            bs_free(c->drop1);
            bs_free(c->h1);
            bs_free(c->s2);
            bs_free(c->drop2);
            bs_free(c->mean1);
            bs_free(c->u);
        }
        free(m->cache);
        m->cache = NULL;
    }
    for (int i = 0; i < BM_N_TMP; i++) {
        bs_free(m->ws_tmp[i]);
        m->ws_tmp[i] = NULL;
    }
    bm_head_cache *hcs[2] = {&m->hc_g, &m->hc_pred};
    for (int i = 0; i < 2; i++) {
        bs_free(hcs[i]->x);
        bs_free(hcs[i]->y1);
        bs_free(hcs[i]->mean);
        bs_free(hcs[i]->r);
        memset(hcs[i], 0, sizeof *hcs[i]);
    }
    bs_free(m->ws_masked);
    bs_free(m->ws_rows);
    bs_free(m->ws_logits);
    m->ws_masked = NULL;
    m->ws_rows = NULL;
    m->ws_logits = NULL;
    for (int t = 0; m->gpriv && t < m->ws_threads - 1; t++)
        bs_free(m->gpriv[t]);
    free(m->gpriv);
    m->gpriv = NULL;
    m->ws_threads = 0;
    m->ws_batch = 0;
}

void bs_brainmass_free(bs_brainmass *m)
{
    if (!m)
        return;
    free_workspace(m);
    free_infer_workspace(m);
    bs_free(m->params);
    bs_free(m->grads);
    bs_free(m->adam_m);
    bs_free(m->adam_v);
    bs_free(m->target);
    bs_free(m->pos_table);
    bm_bn_stats *bns[3] = {&m->bn_online, &m->bn_target, &m->bn_pred};
    for (int i = 0; i < 3; i++) {
        bs_free(bns[i]->mean);
        bs_free(bns[i]->var);
    }
    if (m->rng)
        bs_rng_free(m->rng);
    free(m->layers);
    free(m->entries);
    free(m);
}

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void *alloc_bytes(size_t n)
{
    void *p = bs_alloc_aligned(n ? n : 1);
    if (p)
        memset(p, 0, n);
    return p;
}

int bm_workspace(bs_brainmass *m, int batch, bs_error *err)
{
    const int nt = max_threads();
    if (batch <= m->ws_batch && nt <= m->ws_threads)
        return BS_OK;
    if (batch < m->ws_batch)
        batch = m->ws_batch;
    free_workspace(m);
    const bs_brainmass_config *c = &m->cfg;
    const size_t T = (size_t)c->rois + 2, d = (size_t)c->rois, N = (size_t)batch * T;
    const size_t E = (size_t)c->reduce_dim * c->rois;
    const size_t F2 = (size_t)2 * c->feature_dim > 2 * E ? (size_t)2 * c->feature_dim : 2 * E;
    const size_t Fin = E > (size_t)c->feature_dim ? E : (size_t)c->feature_dim;
    const size_t att = (size_t)batch * c->heads * T * T;
    m->cache = calloc((size_t)c->depth + 1, sizeof *m->cache);
    if (!m->cache)
        goto nomem;
    for (int l = 0; l <= c->depth; l++) {
        bm_layer_cache *k = &m->cache[l];
        if (!(k->x = bs_alloc_floats(N * d)))
            goto nomem;
        if (l == c->depth)
            break; /* the last entry only holds the encoder output */
        k->qkv = bs_alloc_floats(N * 3 * d);
        k->prob = bs_alloc_floats(att);
        k->ctx = bs_alloc_floats(N * d);
        k->s1 = bs_alloc_floats(N * d);
        k->h1 = bs_alloc_floats(N * d);
        k->s2 = bs_alloc_floats(N * d);
        k->mean1 = bs_alloc_floats(4 * N);
        k->u = bs_alloc_floats(N * (size_t)c->ffn);
        if (!k->qkv || !k->prob || !k->ctx || !k->s1 || !k->h1 || !k->s2 || !k->mean1 || !k->u)
            goto nomem;
        /* masks even when cfg.dropout is 0: a caller may raise the dropout
         * for a pass (fine-tuning does) */
        if (!(k->adrop = alloc_bytes(att)) || !(k->drop1 = alloc_bytes(N * d)) || !(k->drop2 = alloc_bytes(N * d)))
            goto nomem;
        k->rstd1 = k->mean1 + N;
        k->mean2 = k->mean1 + 2 * N;
        k->rstd2 = k->mean1 + 3 * N;
    }
    size_t big = N * (size_t)c->ffn;
    size_t bf = (size_t)batch * c->feature_dim;
    size_t mk = (size_t)(c->mrm_mask > c->nce_mask ? c->mrm_mask : c->nce_mask);
    size_t sizes[BM_N_TMP] = {big, big, N * 3 * d, N * d, N * d, N * d,
                              (size_t)batch * (2 * F2 + Fin), bf, bf, bf, bf,
                              (size_t)batch * mk * (size_t)c->ffn};
    for (int i = 0; i < BM_N_TMP; i++) {
        m->ws_tmp_n[i] = sizes[i];
        if (!(m->ws_tmp[i] = bs_alloc_floats(sizes[i])))
            goto nomem;
    }
    bm_head_cache *hcs[2] = {&m->hc_g, &m->hc_pred};
    for (int i = 0; i < 2; i++) {
        hcs[i]->x = bs_alloc_floats((size_t)batch * Fin);
        hcs[i]->y1 = bs_alloc_floats((size_t)batch * F2);
        hcs[i]->mean = bs_alloc_floats(2 * F2);
        hcs[i]->r = bs_alloc_floats((size_t)batch * F2);
        if (!hcs[i]->x || !hcs[i]->y1 || !hcs[i]->mean || !hcs[i]->r)
            goto nomem;
        hcs[i]->rstd = hcs[i]->mean + F2;
    }
    m->ws_masked = alloc_bytes((size_t)batch * c->rois);
    m->ws_rows = bs_alloc_aligned(sizeof(int32_t) * 3 * (size_t)batch * mk);
    m->ws_logits = bs_alloc_floats(3 * (size_t)batch * mk * mk);
    if (!m->ws_masked || !m->ws_rows || !m->ws_logits)
        goto nomem;
    m->ws_threads = nt;
    m->gpriv = calloc((size_t)nt, sizeof *m->gpriv);
    if (!m->gpriv)
        goto nomem;
    for (int t = 0; t < nt - 1; t++)
        if (!(m->gpriv[t] = bs_alloc_floats(m->enc_end)))
            goto nomem;
    m->ws_batch = batch;
    return BS_OK;
nomem:
    free_workspace(m);
    return bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory for a batch of %d", batch);
}

int bm_infer_workspace(bs_brainmass *m, bs_error *err)
{
    const int nt = max_threads();
    if (m->iws && nt <= m->iws_threads)
        return BS_OK;
    free_infer_workspace(m);
    const bs_brainmass_config *c = &m->cfg;
    const size_t T = (size_t)c->rois + 2, d = (size_t)c->rois, n = (size_t)BM_INFER_CHUNK * T;
    const size_t E = (size_t)c->reduce_dim * c->rois;
    m->iws = calloc((size_t)nt, sizeof *m->iws);
    if (!m->iws)
        goto nomem;
    m->iws_threads = nt;
    for (int t = 0; t < nt; t++) {
        bm_infer_ws *w = &m->iws[t];
        w->x = bs_alloc_floats(n * d);
        w->qkv = bs_alloc_floats(n * 3 * d);
        w->ctx = bs_alloc_floats(n * d);
        w->s = bs_alloc_floats(n * d);
        w->h = bs_alloc_floats(n * d);
        w->u = bs_alloc_floats(n * (size_t)(c->ffn < BM_FFN_BLOCK ? c->ffn : BM_FFN_BLOCK));
        w->att = bs_alloc_floats((size_t)c->heads * T * T);
        w->mask = alloc_bytes(n * d);
        if (!w->x || !w->qkv || !w->ctx || !w->s || !w->h || !w->u || !w->att || !w->mask)
            goto nomem;
    }
    m->eval_tok = bs_alloc_floats((size_t)BM_EVAL_BLOCK * d * d);
    m->eval_z = bs_alloc_floats((size_t)BM_EVAL_BLOCK * E);
    m->eval_h1 = bs_alloc_floats((size_t)BM_EVAL_BLOCK * 2 * E);
    m->eval_h2 = bs_alloc_floats((size_t)BM_EVAL_BLOCK * 2 * E);
    if (!m->eval_tok || !m->eval_z || !m->eval_h1 || !m->eval_h2)
        goto nomem;
    return BS_OK;
nomem:
    free_infer_workspace(m);
    return bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory for the inference scratch");
}

const bs_brainmass_config *bs_brainmass_get_config(const bs_brainmass *m)
{
    return &m->cfg;
}

int bs_brainmass_embed_dim(const bs_brainmass *m)
{
    return m->cfg.reduce_dim * m->cfg.rois;
}

int64_t bs_brainmass_step_count(const bs_brainmass *m)
{
    return m->step;
}

int bs_brainmass_tensor_count(const bs_brainmass *m)
{
    return m->n_entries;
}

int bs_brainmass_tensor_get(const bs_brainmass *m, int index, bs_brainmass_tensor *out)
{
    if (index < 0 || index >= m->n_entries)
        return -1;
    const bm_entry *e = &m->entries[index];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    switch (e->kind) {
    case BM_KIND_PARAM:
        out->data = m->params + e->offset;
        out->grad = m->grads + e->offset;
        break;
    case BM_KIND_TARGET:
        out->data = m->target + e->offset;
        break;
    case BM_KIND_BN_MEAN:
        out->data = e->bn->mean;
        break;
    case BM_KIND_BN_VAR:
        out->data = e->bn->var;
        break;
    default:
        out->count = &e->bn->count;
        break;
    }
    return 0;
}

int bs_brainmass_tensor_find(const bs_brainmass *m, const char *name, bs_brainmass_tensor *out)
{
    for (int i = 0; i < m->n_entries; i++)
        if (!strcmp(m->entries[i].name, name))
            return bs_brainmass_tensor_get(m, i, out);
    return -1;
}

int bm_check_finite(const float *x, size_t n, const char *what, bs_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return bs_error_set(err, BS_ERR_NUMERIC,
                                "brainmass: %s: non-finite value (%g) at element %zu; FC matrices "
                                "must be finite (set NaN to 0 upstream)",
                                what, (double)x[i], i);
    return BS_OK;
}

int bm_check_finite_fc(const float *x, int64_t n, int R, const char *what, bs_error *err)
{
    const size_t rr = (size_t)R * R, total = (size_t)n * rr;
    for (size_t i = 0; i < total; i++)
        if (!isfinite(x[i]))
            return bs_error_set(err, BS_ERR_NUMERIC,
                                "brainmass: %s: matrix %zu, row %zu, column %zu is %s; FC matrices must be "
                                "finite (set NaN to 0 upstream, as the reference does)",
                                what, i / rr, i % rr / (size_t)R, i % (size_t)R, isnan(x[i]) ? "NaN" : "infinite");
    return BS_OK;
}
