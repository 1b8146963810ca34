/* core/brainmae/model.c - BrainMAE parameters, forward pass, backward pass,
 * AdamW step and interpretation exports (architecture: docs/brainmae.md;
 * the PyTorch twin is tests/brainmae_ref.py). */
#include "model_internal.h"
#include "ops.h"
#include "par.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nn.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"

void bs_brainmae_config_default(bs_brainmae_config *c, int n_rois, int seg_len, int n_segments)
{
    memset(c, 0, sizeof *c);
    c->n_rois = n_rois;
    c->seg_len = seg_len;
    c->n_segments = n_segments;
    c->d_model = 64;
    c->d_key = 32;
    c->d_ffn = 128;
    c->n_heads = 4;
    c->encoder = BS_BRAINMAE_SG;
    c->n_encoder = 3;
    c->n_temporal = 2;
    c->n_decoder = 1;
    c->self_loops = 0;
    c->w_masked = 0.75f;
    c->w_unmasked = 0.25f;
    c->dropout = 0.0f; /* MAE-style pretraining: masking regularises (docs/brainmae.md) */
}

int bs_brainmae_config_validate(const bs_brainmae_config *c, bs_error *err)
{
    if (c->n_rois < 2)
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: n_rois: expected >= 2, got %d", c->n_rois);
    if (c->seg_len < 1 || c->n_segments < 1)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae: seg_len/n_segments: expected >= 1, got %d/%d", c->seg_len,
                            c->n_segments);
    if (c->d_model < 1 || c->d_key < 1 || c->d_ffn < 1 || c->n_heads < 1 ||
        c->d_model % c->n_heads != 0)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae: d_model %d must be positive and divisible by n_heads %d "
                            "(d_key %d, d_ffn %d positive)",
                            c->d_model, c->n_heads, c->d_key, c->d_ffn);
    if (c->encoder != BS_BRAINMAE_SG && c->encoder != BS_BRAINMAE_AG)
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: encoder: expected sg or ag");
    if (c->n_encoder < 1 || c->n_encoder > MAE_MAX_BLOCKS || c->n_temporal < 1 ||
        c->n_temporal > MAE_MAX_BLOCKS || c->n_decoder < 1 || c->n_decoder > MAE_MAX_BLOCKS)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae: block counts (encoder %d, temporal %d, decoder %d): "
                            "expected 1..%d each",
                            c->n_encoder, c->n_temporal, c->n_decoder, MAE_MAX_BLOCKS);
    if (!(c->w_masked >= 0) || !(c->w_unmasked >= 0))
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: loss weights must be >= 0");
    if (!(c->dropout >= 0 && c->dropout < 1))
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: dropout: expected in [0, 1), got %g",
                            c->dropout);
    return BS_OK;
}

int bs_brainmae_seg_len(double window_s, double tr, int *seg_len, bs_error *err)
{
    if (!(tr > 0) || !isfinite(tr))
        return bs_error_set(err, BS_ERR_DATA,
                            "brainmae: repetition time missing or invalid (TR = %g s); the time "
                            "series must carry its TR",
                            tr);
    if (!(window_s > 0) || !isfinite(window_s))
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: window_s: expected > 0, got %g",
                            window_s);
    long n = lround(window_s / tr);
    *seg_len = n < 1 ? 1 : (int)n;
    return BS_OK;
}

/* ---- parameter table ---- */

static size_t add_param(bs_brainmae *m, const char *name, int ndim, int64_t s0, int64_t s1,
                        int decay)
{
    bs_brainmae_param *p = &m->par[m->n_par];
    m->names[m->n_par] = strdup(name);
    p->name = m->names[m->n_par];
    p->ndim = ndim;
    p->shape[0] = s0;
    p->shape[1] = ndim == 2 ? s1 : 0;
    p->numel = (size_t)s0 * (size_t)(ndim == 2 ? s1 : 1);
    p->offset = m->n;
    p->decay = decay;
    /* keep every tensor 16-float aligned for vector loads */
    m->n += (p->numel + 15) & ~(size_t)15;
    m->n_par++;
    return p->offset;
}

static void add_block(bs_brainmae *m, mae_block *b, const char *prefix, int kind)
{
    const int d = m->cfg.d_model, dk = m->cfg.d_key, f = m->cfg.d_ffn;
    char nm[128];
#define P(field, suffix, nd, a, bb, dec) \
    (snprintf(nm, sizeof nm, "%s.%s", prefix, suffix), b->field = add_param(m, nm, nd, a, bb, dec))
    b->kind = kind;
    P(ln1_g, "ln1.weight", 1, d, 0, 0);
    P(ln1_b, "ln1.bias", 1, d, 0, 0);
    if (kind == MAE_RA) {
        P(wq, "wq.weight", 2, dk, d, 1);
        P(wk, "wk.weight", 2, dk, d, 1);
        P(wv, "wv.weight", 2, d, d, 1);
        P(wv_b, "wv.bias", 1, d, 0, 0);
    } else {
        P(qkv, "qkv.weight", 2, 3 * d, d, 1);
        P(qkv_b, "qkv.bias", 1, 3 * d, 0, 0);
        P(proj, "proj.weight", 2, d, d, 1);
        P(proj_b, "proj.bias", 1, d, 0, 0);
    }
    P(ln2_g, "ln2.weight", 1, d, 0, 0);
    P(ln2_b, "ln2.bias", 1, d, 0, 0);
    P(fc1, "fc1.weight", 2, f, d, 1);
    P(fc1_b, "fc1.bias", 1, f, 0, 0);
    P(fc2, "fc2.weight", 2, d, f, 1);
    P(fc2_b, "fc2.bias", 1, d, 0, 0);
#undef P
}

static void build_table(bs_brainmae *m)
{
    const bs_brainmae_config *c = &m->cfg;
    const int R = c->n_rois, d = c->d_model, tau = c->seg_len, S = c->n_segments;
    char nm[64];
    m->roi_embed = add_param(m, "roi_embed", 2, R, d, 0);
    m->mask_token = add_param(m, "mask_token", 1, d, 0, 0);
    m->in_w = add_param(m, "in_proj.weight", 2, d, tau, 1);
    m->in_b = add_param(m, "in_proj.bias", 1, d, 0, 0);
    for (int i = 0; i < c->n_encoder; i++) {
        snprintf(nm, sizeof nm, "enc.%d", i);
        int kind = (c->encoder == BS_BRAINMAE_SG || i == 0) ? MAE_RA : MAE_SA;
        add_block(m, &m->enc[i], nm, kind);
    }
    m->enc_norm_g = add_param(m, "enc_norm.weight", 1, d, 0, 0);
    m->enc_norm_b = add_param(m, "enc_norm.bias", 1, d, 0, 0);
    m->seg_w = add_param(m, "seg_proj.weight", 2, d, d, 1);
    m->seg_b = add_param(m, "seg_proj.bias", 1, d, 0, 0);
    m->cls = add_param(m, "cls_token", 1, d, 0, 0);
    m->pos = add_param(m, "temporal_pos", 2, S + 1, d, 0);
    for (int i = 0; i < c->n_temporal; i++) {
        snprintf(nm, sizeof nm, "temporal.%d", i);
        add_block(m, &m->tmp[i], nm, MAE_SA);
    }
    m->tnorm_g = add_param(m, "temporal_norm.weight", 1, d, 0, 0);
    m->tnorm_b = add_param(m, "temporal_norm.bias", 1, d, 0, 0);
    m->ctx_w = add_param(m, "dec_ctx.weight", 2, d, d, 1);
    m->ctx_b = add_param(m, "dec_ctx.bias", 1, d, 0, 0);
    for (int i = 0; i < c->n_decoder; i++) {
        snprintf(nm, sizeof nm, "decoder.%d", i);
        add_block(m, &m->dec[i], nm, MAE_SA);
    }
    m->dnorm_g = add_param(m, "dec_norm.weight", 1, d, 0, 0);
    m->dnorm_b = add_param(m, "dec_norm.bias", 1, d, 0, 0);
    m->out_w = add_param(m, "dec_out.weight", 2, tau, d, 1);
    m->out_b = add_param(m, "dec_out.bias", 1, tau, 0, 0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

bs_brainmae *bs_brainmae_new(const bs_brainmae_config *cfg, uint64_t seed, bs_error *err)
{
    if (bs_brainmae_config_validate(cfg, err)) return NULL;
    bs_brainmae *m = calloc(1, sizeof *m);
    if (!m) {
        bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    build_table(m);
    m->params = bs_alloc_floats(m->n);
    m->grads = bs_alloc_floats(m->n);
    m->adam_m = bs_alloc_floats(m->n);
    m->adam_v = bs_alloc_floats(m->n);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v) {
        bs_brainmae_free(m);
        bs_error_set(err, BS_ERR_NOMEM, "brainmae: cannot allocate %zu parameters", m->n);
        return NULL;
    }
    bs_rng *rng = bs_rng_new(seed);
    for (int i = 0; i < m->n_par; i++) {
        const bs_brainmae_param *p = &m->par[i];
        float *w = m->params + p->offset;
        int is_gain = ends_with(p->name, "ln1.weight") || ends_with(p->name, "ln2.weight") ||
                      ends_with(p->name, "norm.weight");
        for (size_t j = 0; j < p->numel; j++) {
            if (is_gain) w[j] = 1.0f;
            else if (ends_with(p->name, ".bias")) w[j] = 0.0f;
            else w[j] = (float)bs_rng_gaussian(rng, 0.02);
        }
    }
    bs_rng_free(rng);
    return m;
}

void bs_brainmae_free(bs_brainmae *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_par; i++) free(m->names[i]);
    bs_free(m->params);
    bs_free(m->grads);
    bs_free(m->adam_m);
    bs_free(m->adam_v);
    bs_free(m->arena);
    free(m->hide);
    free(m);
}

const bs_brainmae_config *bs_brainmae_get_config(const bs_brainmae *m) { return &m->cfg; }
int bs_brainmae_param_count(const bs_brainmae *m) { return m->n_par; }
const bs_brainmae_param *bs_brainmae_param_info(const bs_brainmae *m, int i)
{
    return (i >= 0 && i < m->n_par) ? &m->par[i] : NULL;
}
const bs_brainmae_param *bs_brainmae_param_find(const bs_brainmae *m, const char *name)
{
    for (int i = 0; i < m->n_par; i++)
        if (strcmp(m->par[i].name, name) == 0) return &m->par[i];
    return NULL;
}
size_t bs_brainmae_num_params(const bs_brainmae *m) { return m->n; }
float *bs_brainmae_params(bs_brainmae *m) { return m->params; }
float *bs_brainmae_grads(bs_brainmae *m) { return m->grads; }
void bs_brainmae_zero_grad(bs_brainmae *m) { memset(m->grads, 0, sizeof(float) * m->n); }
const float *bs_brainmae_recon(const bs_brainmae *m) { return m->recon; }
const float *bs_brainmae_cls(const bs_brainmae *m) { return m->cls_out; }
const float *bs_brainmae_seg_embed(const bs_brainmae *m) { return m->segemb; }
int64_t bs_brainmae_step_count(const bs_brainmae *m) { return m->step; }

/* ---- activation memory ---- */

typedef struct carve {
    float *base;
    size_t used;
} carve;

static float *take(carve *c, size_t n)
{
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15;
    return p;
}

static void carve_cache(carve *c, mae_cache *k, const bs_brainmae_config *cfg, int64_t nseq,
                        int n, int kind)
{
    const size_t N = (size_t)nseq * n, d = cfg->d_model, f = cfg->d_ffn;
    k->x_in = take(c, N * d);
    k->u1 = take(c, N * d);
    k->mean1 = take(c, N);
    k->rstd1 = take(c, N);
    k->v = take(c, N * (kind == MAE_SA ? 3 * d : d));
    k->att = kind == MAE_SA ? take(c, (size_t)nseq * cfg->n_heads * n * n) : NULL;
    k->o = kind == MAE_SA ? take(c, N * d) : NULL;
    k->x_mid = take(c, N * d);
    k->u2 = take(c, N * d);
    k->mean2 = take(c, N);
    k->rstd2 = take(c, N);
    k->f1 = take(c, N * f);
    k->f1g = take(c, N * f);
    k->q = take(c, (size_t)cfg->n_rois * cfg->d_key);
    k->k = take(c, (size_t)cfg->n_rois * cfg->d_key);
    k->alpha = take(c, (size_t)cfg->n_rois * cfg->n_rois);
}

/* Lays out every activation and backward buffer for a batch of B samples;
 * with c->base NULL it only measures. */
static void layout(bs_brainmae *m, carve *c, int B)
{
    const bs_brainmae_config *cfg = &m->cfg;
    const int S = cfg->n_segments, R = cfg->n_rois, d = cfg->d_model, tau = cfg->seg_len;
    const size_t Nt = (size_t)B * S * R, Ns = (size_t)B * S, Nq = (size_t)B * (S + 1);
    size_t wide = (size_t)3 * d;
    if ((size_t)cfg->d_ffn > wide) wide = cfg->d_ffn;
    if ((size_t)tau > wide) wide = tau;
    m->x = take(c, Nt * tau);
    for (int i = 0; i < cfg->n_encoder; i++)
        carve_cache(c, &m->enc_c[i], cfg, (int64_t)Ns, R, m->enc[i].kind);
    m->enc_out = take(c, Nt * d);
    m->z = take(c, Nt * d);
    m->zmean = take(c, Nt);
    m->zrstd = take(c, Nt);
    m->pooled = take(c, Ns * d);
    m->t0 = take(c, Ns * d); /* seg_proj output */
    for (int i = 0; i < cfg->n_temporal; i++)
        carve_cache(c, &m->tmp_c[i], cfg, B, S + 1, MAE_SA);
    m->t_out = take(c, Nq * d);
    m->tf = take(c, Nq * d);
    m->tmean = take(c, Nq);
    m->trstd = take(c, Nq);
    m->segemb = take(c, Ns * d);
    m->cls_out = take(c, (size_t)B * d);
    m->ctx = take(c, Ns * d);
    for (int i = 0; i < cfg->n_decoder; i++)
        carve_cache(c, &m->dec_c[i], cfg, (int64_t)Ns, R, MAE_SA);
    m->dec_out_x = take(c, Nt * d);
    m->yf = take(c, Nt * d);
    m->ymean = take(c, Nt);
    m->yrstd = take(c, Nt);
    m->recon = take(c, Nt * tau);
    m->scratch_a = take(c, Nt * wide);
    m->scratch_b = take(c, Nt * wide);
    m->scratch_c = take(c, Nt * (wide + 1) + 8 * Ns * d); /* loss weights + drecon, then grads */
    m->scratch_d = take(c, Nt * d);
    /* aggregation partials (8 R^2), dalpha (R^2), adjacency backward (R^2 + 2 R dk) */
    m->scratch_ra = take(c, (size_t)R * R * 10 + (size_t)2 * R * cfg->d_key);
    /* attention scratch: the largest self-attention block's probabilities */
    const size_t att_t = (size_t)B * cfg->n_heads * (S + 1) * (S + 1);
    const size_t att_r = Ns * cfg->n_heads * R * R; /* decoder (and AG encoder) blocks */
    m->att_work = take(c, att_t > att_r ? att_t : att_r);
}

static int ensure_batch(bs_brainmae *m, int B, bs_error *err)
{
    if (B <= m->cap_batch) return BS_OK;
    carve c = {NULL, 0};
    layout(m, &c, B);
    bs_free(m->arena);
    free(m->hide);
    m->arena = bs_alloc_floats(c.used);
    const size_t Nt = (size_t)B * m->cfg.n_segments * m->cfg.n_rois;
    m->hide = malloc(Nt * 2 + (size_t)B * m->cfg.n_rois);
    if (!m->arena || !m->hide) {
        bs_free(m->arena);
        free(m->hide);
        m->arena = NULL;
        m->hide = NULL;
        m->cap_batch = 0;
        return bs_error_set(err, BS_ERR_NOMEM,
                            "brainmae: cannot allocate activations for batch %d (%zu floats)", B,
                            c.used);
    }
    m->lmask = m->hide + Nt;
    m->valid = m->lmask + Nt;
    c.base = m->arena;
    c.used = 0;
    layout(m, &c, B);
    m->cap_batch = B;
    return BS_OK;
}

/* ---- blocks ---- */

#define PW(off) (m->params + (off))
#define GW(off) (m->grads + (off))

/* Dropout sites of a block; with the block's index they seed its masks. */
enum { SITE_ATT_PROB = 0, SITE_ATT_BRANCH = 1, SITE_FFN_HIDDEN = 2, SITE_FFN_BRANCH = 3 };
/* block indices for the seeds: encoder i, temporal 100 + i, decoder 200 + i */
enum { SEED_TEMPORAL = 100, SEED_DECODER = 200 };

/* x_out = block(x_in = k->x_in) over nseq sequences of n tokens.  When the
 * forward drops (m->dropped), the masks come from (seed, block_id, site). */
static void block_fwd(bs_brainmae *m, const mae_block *b, mae_cache *k, int64_t nseq, int n,
                      float *x_out, int block_id, uint64_t seed)
{
    const bs_brainmae_config *c = &m->cfg;
    const int d = c->d_model, f = c->d_ffn, nh = c->n_heads;
    const int64_t N = nseq * n;
    const float p = c->dropout;
    const mae_drop *ka = NULL, *k1 = NULL, *kf = NULL, *k2 = NULL;
    if (m->dropped) {
        k->drop_att = mae_drop_make(p, nn_seed_mix(seed, block_id, SITE_ATT_PROB));
        k->drop1 = mae_drop_make(p, nn_seed_mix(seed, block_id, SITE_ATT_BRANCH));
        k->dropf = mae_drop_make(p, nn_seed_mix(seed, block_id, SITE_FFN_HIDDEN));
        k->drop2 = mae_drop_make(p, nn_seed_mix(seed, block_id, SITE_FFN_BRANCH));
        ka = b->kind == MAE_SA ? &k->drop_att : NULL;
        k1 = &k->drop1, kf = &k->dropf, k2 = &k->drop2;
    }
    float *branch = m->scratch_a;
    mae_layernorm_fwd(k->u1, k->mean1, k->rstd1, k->x_in, PW(b->ln1_g), PW(b->ln1_b), N, d);
    if (b->kind == MAE_RA) {
        /* alpha is one graph for every window: no dropout on it (docs/brainmae.md) */
        bs_region_adjacency_forward_f32(PW(m->roi_embed), PW(b->wq), PW(b->wk), c->n_rois, d,
                                        c->d_key, c->self_loops, k->q, k->k, k->alpha);
        mae_linear_fwd(k->v, k->u1, PW(b->wv), PW(b->wv_b), N, d, d);
        bs_region_aggregate_forward_f32(k->alpha, k->v, nseq, n, d, branch, NULL);
    } else {
        mae_linear_fwd(k->v, k->u1, PW(b->qkv), PW(b->qkv_b), N, d, 3 * d);
        mae_mhsa_fwd(k->o, k->att, k->v, nseq, n, d, nh, ka, m->att_work);
        mae_linear_fwd(branch, k->o, PW(b->proj), PW(b->proj_b), N, d, d);
    }
    mae_residual_fwd(k->x_mid, k->x_in, branch, k1, N * d);
    mae_layernorm_fwd(k->u2, k->mean2, k->rstd2, k->x_mid, PW(b->ln2_g), PW(b->ln2_b), N, d);
    mae_linear_fwd(k->f1, k->u2, PW(b->fc1), PW(b->fc1_b), N, d, f);
    mae_gelu_fwd(k->f1g, k->f1, N * f, kf);
    mae_linear_fwd(x_out, k->f1g, PW(b->fc2), PW(b->fc2_b), N, f, d);
    mae_residual_fwd(x_out, k->x_mid, x_out, k2, N * d);
}

/* dx: gradient w.r.t. the block output on entry, w.r.t. its input on exit. */
static void block_bwd(bs_brainmae *m, const mae_block *b, const mae_cache *k, int64_t nseq, int n,
                      float *dx)
{
    const bs_brainmae_config *c = &m->cfg;
    const int d = c->d_model, f = c->d_ffn;
    const int64_t N = nseq * n;
    float *A = m->scratch_a, *Bf = m->scratch_b;
    /* feed-forward branch, x_out = x_mid + drop(fc2(drop(gelu(fc1(LN2(x_mid)))))); dx
     * doubles as d(x_mid) */
    const float *g2 = dx;
    if (m->dropped) {
        mae_dropout_apply(Bf, dx, &k->drop2, N * d);
        g2 = Bf;
    }
    mae_linear_bwd(A, GW(b->fc2), GW(b->fc2_b), g2, k->f1g, PW(b->fc2), N, f, d, 0);
    mae_gelu_bwd(A, k->f1, N * f, m->dropped ? &k->dropf : NULL);
    mae_linear_bwd(Bf, GW(b->fc1), GW(b->fc1_b), A, k->u2, PW(b->fc1), N, d, f, 0);
    mae_layernorm_bwd(dx, GW(b->ln2_g), GW(b->ln2_b), Bf, k->x_mid, k->mean2, k->rstd2,
                      PW(b->ln2_g), N, d, 1);
    /* attention branch, x_mid = x_in + drop(branch) */
    const float *g1 = dx;
    if (b->kind == MAE_RA) {
        const int R = c->n_rois;
        float *dalpha = m->scratch_ra + 8 * (size_t)R * R;
        float *adj_scratch = dalpha + (size_t)R * R;
        if (m->dropped) {
            mae_dropout_apply(A, dx, &k->drop1, N * d);
            g1 = A;
        }
        memset(dalpha, 0, sizeof(float) * (size_t)R * R);
        bs_region_aggregate_backward_f32(k->alpha, k->v, g1, nseq, n, d, Bf, dalpha,
                                         m->scratch_ra);
        bs_region_adjacency_backward_f32(PW(m->roi_embed), PW(b->wq), PW(b->wk), k->q, k->k,
                                         k->alpha, dalpha, R, d, c->d_key, GW(m->roi_embed),
                                         GW(b->wq), GW(b->wk), adj_scratch);
        mae_linear_bwd(A, GW(b->wv), GW(b->wv_b), Bf, k->u1, PW(b->wv), N, d, d, 0);
    } else {
        if (m->dropped) {
            mae_dropout_apply(Bf, dx, &k->drop1, N * d);
            g1 = Bf;
        }
        mae_linear_bwd(A, GW(b->proj), GW(b->proj_b), g1, k->o, PW(b->proj), N, d, d, 0);
        mae_mhsa_bwd(Bf, A, k->v, k->att, nseq, n, d, c->n_heads,
                     m->dropped ? &k->drop_att : NULL, m->att_work);
        mae_linear_bwd(A, GW(b->qkv), GW(b->qkv_b), Bf, k->u1, PW(b->qkv), N, d, 3 * d, 0);
    }
    mae_layernorm_bwd(dx, GW(b->ln1_g), GW(b->ln1_b), A, k->x_in, k->mean1, k->rstd1,
                      PW(b->ln1_g), N, d, 1);
}

/* ---- whole model ---- */

static int forward(bs_brainmae *m, int B, const float *x, const uint8_t *mask,
                   const uint8_t *valid, int train, uint64_t seed, float *loss_out, bs_error *err)
{
    const bs_brainmae_config *c = &m->cfg;
    const int S = c->n_segments, R = c->n_rois, d = c->d_model, tau = c->seg_len;
    if (B < 1) return bs_error_set(err, BS_ERR_USAGE, "brainmae: batch: expected >= 1, got %d", B);
    if (ensure_batch(m, B, err)) return err ? err->code : BS_ERR_NOMEM;
    m->batch = B;
    m->dropped = train && c->dropout > 0;
    const int64_t Ns = (int64_t)B * S, Nt = Ns * R, Nq = (int64_t)B * (S + 1);
    /* dropout hashes 32-bit element indices (ops.h) */
    const int64_t widest = (int64_t)(c->d_ffn > 3 * d ? c->d_ffn : 3 * d);
    if (m->dropped && (Nt * widest > UINT32_MAX || Ns * c->n_heads * R * R > UINT32_MAX))
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae: batch %d too large for dropout (a tensor would exceed 2^32 "
                            "elements); use a smaller batch",
                            B);
    memcpy(m->x, x, sizeof(float) * (size_t)(Nt * tau));
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) m->valid[b * R + r] = valid ? (valid[b * R + r] != 0) : 1;
    for (int64_t t = 0; t < Nt; t++) {
        int b = (int)(t / ((int64_t)S * R)), r = (int)(t % R);
        m->lmask[t] = mask[t] != 0;
        m->hide[t] = m->lmask[t] || !m->valid[b * R + r];
        /* invalid ROIs may hold NaN: never let them reach a GEMM */
        if (!m->valid[b * R + r]) memset(m->x + t * tau, 0, sizeof(float) * (size_t)tau);
    }

    /* encoder input: projected segment signal, or the mask token if hidden */
    float *h0 = m->enc_c[0].x_in;
    mae_linear_fwd(h0, m->x, PW(m->in_w), PW(m->in_b), Nt, tau, d);
    for (int64_t t = 0; t < Nt; t++)
        if (m->hide[t]) memcpy(h0 + t * d, PW(m->mask_token), sizeof(float) * (size_t)d);
    for (int i = 0; i < c->n_encoder; i++)
        block_fwd(m, &m->enc[i], &m->enc_c[i], Ns, R,
                  i + 1 < c->n_encoder ? m->enc_c[i + 1].x_in : m->enc_out, i, seed);
    mae_layernorm_fwd(m->z, m->zmean, m->zrstd, m->enc_out, PW(m->enc_norm_g), PW(m->enc_norm_b),
                     Nt, d);

    /* segment vectors: mean over ROIs, then a linear map */
    for (int64_t s = 0; s < Ns; s++) {
        float *p = m->pooled + s * d;
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int r = 0; r < R; r++) acc += m->z[(s * R + r) * d + j];
            p[j] = (float)(acc / R);
        }
    }
    mae_linear_fwd(m->t0, m->pooled, PW(m->seg_w), PW(m->seg_b), Ns, d, d);

    /* temporal transformer: [CLS, segments] + learned positions */
    float *tin = m->tmp_c[0].x_in;
    for (int b = 0; b < B; b++)
        for (int s = 0; s <= S; s++) {
            float *dst = tin + ((int64_t)b * (S + 1) + s) * d;
            const float *src = s == 0 ? PW(m->cls) : m->t0 + ((int64_t)b * S + s - 1) * d;
            const float *pos = PW(m->pos) + (int64_t)s * d;
            for (int j = 0; j < d; j++) dst[j] = src[j] + pos[j];
        }
    for (int i = 0; i < c->n_temporal; i++)
        block_fwd(m, &m->tmp[i], &m->tmp_c[i], B, S + 1,
                  i + 1 < c->n_temporal ? m->tmp_c[i + 1].x_in : m->t_out, SEED_TEMPORAL + i, seed);
    mae_layernorm_fwd(m->tf, m->tmean, m->trstd, m->t_out, PW(m->tnorm_g), PW(m->tnorm_b), Nq, d);
    for (int b = 0; b < B; b++) {
        memcpy(m->cls_out + (int64_t)b * d, m->tf + (int64_t)b * (S + 1) * d,
               sizeof(float) * (size_t)d);
        memcpy(m->segemb + (int64_t)b * S * d, m->tf + ((int64_t)b * (S + 1) + 1) * d,
               sizeof(float) * (size_t)S * d);
    }

    /* decoder: ROI tokens plus the segment's temporal context */
    mae_linear_fwd(m->ctx, m->segemb, PW(m->ctx_w), PW(m->ctx_b), Ns, d, d);
    float *y0 = m->dec_c[0].x_in;
    for (int64_t t = 0; t < Nt; t++) {
        const float *zz = m->z + t * d, *cc = m->ctx + (t / R) * d;
        for (int j = 0; j < d; j++) y0[t * d + j] = zz[j] + cc[j];
    }
    for (int i = 0; i < c->n_decoder; i++)
        block_fwd(m, &m->dec[i], &m->dec_c[i], Ns, R,
                  i + 1 < c->n_decoder ? m->dec_c[i + 1].x_in : m->dec_out_x, SEED_DECODER + i, seed);
    mae_layernorm_fwd(m->yf, m->ymean, m->yrstd, m->dec_out_x, PW(m->dnorm_g), PW(m->dnorm_b), Nt,
                     d);
    mae_linear_fwd(m->recon, m->yf, PW(m->out_w), PW(m->out_b), Nt, d, tau);

    /* weighted MSE: masked and visible valid ROI segments averaged apart */
    int64_t n_m = 0, n_u = 0;
    for (int64_t t = 0; t < Nt; t++) {
        int b = (int)(t / ((int64_t)S * R)), r = (int)(t % R);
        if (!m->valid[b * R + r]) continue;
        if (m->lmask[t]) n_m++;
        else n_u++;
    }
    const double wm = n_m ? c->w_masked / ((double)n_m * tau) : 0;
    const double wu = n_u ? c->w_unmasked / ((double)n_u * tau) : 0;
    float *wtok = m->scratch_c; /* per-token weight, read again by backward */
    double loss = 0;
    for (int64_t t = 0; t < Nt; t++) {
        int b = (int)(t / ((int64_t)S * R)), r = (int)(t % R);
        double w = !m->valid[b * R + r] ? 0 : (m->lmask[t] ? wm : wu);
        wtok[t] = (float)w;
        if (w == 0) continue;
        double e = 0;
        for (int j = 0; j < tau; j++) {
            double diff = (double)m->recon[t * tau + j] - m->x[t * tau + j];
            e += diff * diff;
        }
        loss += w * e;
    }
    m->loss = (float)loss;
    if (!isfinite(loss))
        return bs_error_set(err, BS_ERR_NUMERIC,
                            "brainmae: loss is not finite (inputs must be finite for valid ROIs; "
                            "learning rate too high?)");
    if (loss_out) *loss_out = (float)loss;
    return BS_OK;
}

/* BLAS runs single-threaded for the whole pass (par.h). */
int bs_brainmae_forward(bs_brainmae *m, int B, const float *x, const uint8_t *mask,
                        const uint8_t *valid, float *loss, bs_error *err)
{
    mae_par scope;
    mae_par_begin(&scope);
    int rc = forward(m, B, x, mask, valid, 0, 0, loss, err);
    mae_par_end(&scope);
    return rc;
}

int bs_brainmae_forward_train(bs_brainmae *m, int B, const float *x, const uint8_t *mask,
                              const uint8_t *valid, uint64_t seed, float *loss, bs_error *err)
{
    mae_par scope;
    mae_par_begin(&scope);
    int rc = forward(m, B, x, mask, valid, 1, seed, loss, err);
    mae_par_end(&scope);
    return rc;
}

static void backward(bs_brainmae *m)
{
    const bs_brainmae_config *c = &m->cfg;
    const int B = m->batch, S = c->n_segments, R = c->n_rois, d = c->d_model, tau = c->seg_len;
    const int64_t Ns = (int64_t)B * S, Nt = Ns * R, Nq = (int64_t)B * (S + 1);
    /* gradient buffers: dy (decoder tokens), dz (encoder output), dt (temporal) */
    float *wtok = m->scratch_c;
    float *drec = m->scratch_c + Nt; /* Nt*tau after the weights */
    float *dy = m->scratch_d;
    for (int64_t t = 0; t < Nt; t++)
        for (int j = 0; j < tau; j++)
            drec[t * tau + j] = 2.0f * wtok[t] * (m->recon[t * tau + j] - m->x[t * tau + j]);
    /* drec lives in scratch_c, which blocks never touch; scratch_b is free
     * until the first block_bwd. */
    float *dyf = m->scratch_b;
    mae_linear_bwd(dyf, GW(m->out_w), GW(m->out_b), drec, m->yf, PW(m->out_w), Nt, d, tau, 0);
    mae_layernorm_bwd(dy, GW(m->dnorm_g), GW(m->dnorm_b), dyf, m->dec_out_x, m->ymean, m->yrstd,
                      PW(m->dnorm_g), Nt, d, 0);
    for (int i = c->n_decoder - 1; i >= 0; i--) block_bwd(m, &m->dec[i], &m->dec_c[i], Ns, R, dy);

    /* y0 = z + ctx: dctx = sum over ROIs; dz = dy (kept in dy) */
    float *dctx = m->scratch_c; /* loss weights no longer needed */
    float *dseg = dctx + Ns * d;
    float *dt = dseg + Ns * d;  /* Nq*d */
    float *dtf = dt + Nq * d;   /* Nq*d */
    float *dpool = dtf + Nq * d;
    for (int64_t s = 0; s < Ns; s++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int r = 0; r < R; r++) acc += dy[(s * R + r) * d + j];
            dctx[s * d + j] = (float)acc;
        }
    mae_linear_bwd(dseg, GW(m->ctx_w), GW(m->ctx_b), dctx, m->segemb, PW(m->ctx_w), Ns, d, d, 0);
    memset(dtf, 0, sizeof(float) * (size_t)(Nq * d));
    for (int b = 0; b < B; b++)
        memcpy(dtf + ((int64_t)b * (S + 1) + 1) * d, dseg + (int64_t)b * S * d,
               sizeof(float) * (size_t)S * d);
    mae_layernorm_bwd(dt, GW(m->tnorm_g), GW(m->tnorm_b), dtf, m->t_out, m->tmean, m->trstd,
                      PW(m->tnorm_g), Nq, d, 0);
    for (int i = c->n_temporal - 1; i >= 0; i--) block_bwd(m, &m->tmp[i], &m->tmp_c[i], B, S + 1, dt);
    for (int b = 0; b < B; b++)
        for (int s = 0; s <= S; s++) {
            const float *g = dt + ((int64_t)b * (S + 1) + s) * d;
            float *gp = GW(m->pos) + (int64_t)s * d;
            for (int j = 0; j < d; j++) gp[j] += g[j];
            if (s == 0) {
                float *gc = GW(m->cls);
                for (int j = 0; j < d; j++) gc[j] += g[j];
            } else {
                memcpy(dseg + ((int64_t)b * S + s - 1) * d, g, sizeof(float) * (size_t)d);
            }
        }
    mae_linear_bwd(dpool, GW(m->seg_w), GW(m->seg_b), dseg, m->pooled, PW(m->seg_w), Ns, d, d, 0);
    const float invR = 1.0f / (float)R;
    for (int64_t t = 0; t < Nt; t++) {
        const float *g = dpool + (t / R) * d;
        for (int j = 0; j < d; j++) dy[t * d + j] += g[j] * invR;
    }
    /* dy now holds dz: through the encoder's final LayerNorm */
    float *dh = m->scratch_b;
    mae_layernorm_bwd(dh, GW(m->enc_norm_g), GW(m->enc_norm_b), dy, m->enc_out, m->zmean, m->zrstd,
                      PW(m->enc_norm_g), Nt, d, 0);
    memcpy(dy, dh, sizeof(float) * (size_t)(Nt * d));
    for (int i = c->n_encoder - 1; i >= 0; i--) block_bwd(m, &m->enc[i], &m->enc_c[i], Ns, R, dy);

    /* hidden tokens came from the mask token, the rest from in_proj */
    float *gm = GW(m->mask_token);
    for (int64_t t = 0; t < Nt; t++)
        if (m->hide[t]) {
            for (int j = 0; j < d; j++) gm[j] += dy[t * d + j];
            memset(dy + t * d, 0, sizeof(float) * (size_t)d);
        }
    mae_linear_bwd(NULL, GW(m->in_w), GW(m->in_b), dy, m->x, PW(m->in_w), Nt, tau, d, 0);
}

int bs_brainmae_backward(bs_brainmae *m, bs_error *err)
{
    if (m->batch < 1)
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: backward called before forward");
    mae_par scope;
    mae_par_begin(&scope);
    backward(m);
    mae_par_end(&scope);
    return BS_OK;
}

void bs_adamw_defaults(bs_adamw *o)
{
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = 0.05f;
}

void bs_brainmae_adamw_step(bs_brainmae *m, const bs_adamw *o)
{
    m->step++;
    nn_adamw_cfg cfg = {o->beta1, o->beta2, o->eps, o->weight_decay};
    for (int i = 0; i < m->n_par; i++) {
        const bs_brainmae_param *p = &m->par[i];
        nn_adamw_update(m->params + p->offset, m->grads + p->offset, m->adam_m + p->offset,
                        m->adam_v + p->offset, p->numel, o->lr, &cfg,
                        p->decay ? o->weight_decay : 0.0f, m->step);
    }
}

/* ---- interpretation ---- */

void bs_brainmae_segment_attention(const bs_brainmae *m, float *out)
{
    const bs_brainmae_config *c = &m->cfg;
    const int S = c->n_segments, n = S + 1, H = c->n_heads;
    const float *att = m->tmp_c[c->n_temporal - 1].att; /* (B, H, n, n) */
    for (int b = 0; b < m->batch; b++)
        for (int s = 0; s < S; s++) {
            double acc = 0;
            for (int h = 0; h < H; h++) acc += att[(((size_t)b * H + h) * n) * n + 1 + s];
            out[(size_t)b * S + s] = (float)(acc / H);
        }
}

int bs_brainmae_adjacency(const bs_brainmae *m, int block, float *alpha, bs_error *err)
{
    const bs_brainmae_config *c = &m->cfg;
    if (block < 0 || block >= c->n_encoder || m->enc[block].kind != MAE_RA)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae: encoder block %d is not a region-aware block", block);
    const size_t R = c->n_rois, dk = c->d_key;
    float *q = malloc(sizeof(float) * R * dk * 2);
    if (!q) return bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
    bs_region_adjacency_forward_f32(m->params + m->roi_embed, m->params + m->enc[block].wq,
                                    m->params + m->enc[block].wk, (int)R, c->d_model, (int)dk,
                                    c->self_loops, q, q + R * dk, alpha);
    free(q);
    return BS_OK;
}

void bs_brainmae_roi_embeddings(const bs_brainmae *m, float *E)
{
    memcpy(E, m->params + m->roi_embed, sizeof(float) * (size_t)m->cfg.n_rois * m->cfg.d_model);
}

int bs_brainmae_roi_attention(const bs_brainmae *m, int block, float *score, bs_error *err)
{
    const int R = m->cfg.n_rois;
    float *a = malloc(sizeof(float) * (size_t)R * R);
    if (!a) return bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
    int rc = bs_brainmae_adjacency(m, block, a, err);
    if (rc == BS_OK)
        for (int j = 0; j < R; j++) {
            double s = 0;
            for (int i = 0; i < R; i++) s += a[(size_t)i * R + j];
            score[j] = (float)(s / R);
        }
    free(a);
    return rc;
}
