/* core/brainmass/bm_encoder.c - the BrainMass encoder stack (post-norm
 * transformer layers, width R) on the shared nn core ops.
 *
 * Threading: one OpenMP region per call.  Each thread takes whole samples
 * and runs every op of every layer on its own rows, calling single-threaded
 * BLAS (bm_blas_single): no barrier between ops, no second thread pool.
 *  - bm_encoder_fwd / bm_encoder_bwd (training): a fixed contiguous block of
 *    samples per thread.  In the backward pass thread 0 accumulates its
 *    parameter gradients straight into G and thread t > 0 into a private
 *    copy of the layer block, added to G afterwards in thread order, so a
 *    given thread count always sums in the same order.
 *  - bm_encoder_infer (eval, BYOL target): nothing is saved; chunks of
 *    BM_INFER_CHUNK samples go to whichever thread is free (a loaded machine
 *    does not stall on one late thread), and every chunk has the same
 *    composition whatever the thread count.
 * Dropout masks are seeded per (layer, site, sample), so they do not depend
 * on the split either. */
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "brainstage/nn.h"
#include "bm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define TMP(i) (m->ws_tmp[i])

enum { SITE_ATTN = 1, SITE_RESID1 = 2, SITE_FFN = 3, SITE_RESID2 = 4 };

int bm_blas_single(void)
{
    int prev = openblas_get_num_threads();
    if (prev != 1)
        openblas_set_num_threads(1);
    return prev;
}

void bm_blas_restore(int prev)
{
    if (prev != 1)
        openblas_set_num_threads(prev);
}

uint64_t bm_key(uint64_t a, uint64_t b)
{
    return bs_splitmix64(a ^ bs_splitmix64(b + 0x9e3779b97f4a7c15ull));
}

uint64_t bm_seed(uint64_t key, int l, int site, int b)
{
    return nn_seed_mix(key, (uint64_t)l * 8 + (uint64_t)site, (uint64_t)b);
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Threads for a region: the caller's current OpenMP setting, at most the
 * number the workspace was sized for. */
static int team_for(int allocated)
{
#ifdef _OPENMP
    int t = omp_get_max_threads();
    return t < allocated ? t : (allocated > 0 ? allocated : 1);
#else
    (void)allocated;
    return 1;
#endif
}

/* Contiguous block of samples [*b0, *b1) of this thread. */
static void my_samples(int B, int *b0, int *b1)
{
    int t = thread_id(), nt = team_size();
    *b0 = (int)((int64_t)B * t / nt);
    *b1 = (int)((int64_t)B * (t + 1) / nt);
}

static nn_attn_dims sample_dims(int T, int H, int hd, float p, uint64_t seed)
{
    nn_attn_dims ad = nn_attn_dims_packed(1, T, H, hd);
    ad.dropout = p;
    ad.seed = seed;
    return ad;
}

/* Inverted dropout of one sample's rows per site (masks stored). */
static void dropout_rows(float *x, uint8_t *mask, int b0, int b1, size_t per_sample, float p,
                         uint64_t key, int l, int site)
{
    for (int b = b0; b < b1; b++) {
        size_t off = (size_t)(b - b0) * per_sample;
        nn_dropout_forward(x + off, mask + off, x + off, per_sample, p, bm_seed(key, l, site, b));
    }
}

/* ---- training forward: activations saved ---- */

static void layer_fwd(bs_brainmass *m, const float *P, int l, int b0, int b1, int T, float p,
                      uint64_t key)
{
    const bs_brainmass_config *c = &m->cfg;
    const int d = c->rois, H = c->heads, ffn = c->ffn, hd = d / H;
    const bm_layer_off *o = &m->layers[l];
    bm_layer_cache *k = &m->cache[l];
    const size_t r0 = (size_t)b0 * T, n = (size_t)(b1 - b0) * T;
    const size_t att = (size_t)H * T * T;
    float *x = k->x + r0 * d, *qkv = k->qkv + r0 * 3 * d, *ctx = k->ctx + r0 * d;
    float *s1 = k->s1 + r0 * d, *h1 = k->h1 + r0 * d, *s2 = k->s2 + r0 * d;
    float *u = k->u + r0 * ffn, *next = m->cache[l + 1].x + r0 * d;
    nn_linear_forward(qkv, x, P + o->in_w, P + o->in_b, (int)n, d, 3 * d);
    for (int b = b0; b < b1; b++) {
        nn_attn_dims ad = sample_dims(T, H, hd, p, bm_seed(key, l, SITE_ATTN, b));
        const float *q = k->qkv + (size_t)b * T * 3 * d;
        nn_attention_forward(k->ctx + (size_t)b * T * d, k->prob + (size_t)b * att,
                             p > 0.0f ? k->adrop + (size_t)b * att : NULL, q, q + d, q + 2 * d, &ad);
    }
    nn_linear_forward(s1, ctx, P + o->out_w, P + o->out_b, (int)n, d, d);
    if (p > 0.0f)
        dropout_rows(s1, k->drop1 + r0 * d, b0, b1, (size_t)T * d, p, key, l, SITE_RESID1);
    nn_add_layernorm_forward(h1, s1, k->mean1 + r0, k->rstd1 + r0, s1, x, P + o->n1_w, P + o->n1_b, (int)n,
                             d, (float)c->ln_eps);
    nn_linear_forward(u, h1, P + o->l1_w, P + o->l1_b, (int)n, d, ffn);
    for (int b = b0; b < b1; b++) {
        float *ub = u + (size_t)(b - b0) * T * ffn;
        nn_relu_dropout_forward(ub, ub, (size_t)T * ffn, p, bm_seed(key, l, SITE_FFN, b));
    }
    nn_linear_forward(s2, u, P + o->l2_w, P + o->l2_b, (int)n, ffn, d);
    if (p > 0.0f)
        dropout_rows(s2, k->drop2 + r0 * d, b0, b1, (size_t)T * d, p, key, l, SITE_RESID2);
    nn_add_layernorm_forward(next, s2, k->mean2 + r0, k->rstd2 + r0, s2, h1, P + o->n2_w, P + o->n2_b, (int)n,
                             d, (float)c->ln_eps);
}

void bm_encoder_fwd(bs_brainmass *m, const float *P, float *unused, int B, int T, int train,
                    uint64_t key)
{
    (void)unused;
    const float p = train ? (float)m->cfg.dropout : 0.0f;
    m->enc_p = p;
    int prev = bm_blas_single();
#pragma omp parallel num_threads(team_for(m->ws_threads))
    {
        int b0, b1;
        my_samples(B, &b0, &b1);
        if (b1 > b0)
            for (int l = 0; l < m->cfg.depth; l++)
                layer_fwd(m, P, l, b0, b1, T, p, key);
    }
    bm_blas_restore(prev);
}

/* ---- training backward ---- */

static void zero(float *x, size_t n)
{
    memset(x, 0, n * sizeof(float));
}

/* Backward of y = LayerNorm(res + Drop(branch)) over n rows: d (zeroed
 * here) receives the gradient of the LayerNorm input, which is the gradient
 * of `res`; returns the gradient of the branch output (d itself, or tmp
 * after the dropout). */
static const float *ln_residual_bwd(float *d, float *tmp, const float *dy, const float *s, const float *mean,
                                    const float *rstd, const float *gamma, float *dgamma, float *dbeta,
                                    const uint8_t *mask, size_t n, int C, float p)
{
    zero(d, n * C);
    nn_layernorm_backward(d, dgamma, dbeta, dy, s, mean, rstd, gamma, (int)n, C);
    if (!(p > 0.0f))
        return d;
    zero(tmp, n * C);
    nn_dropout_backward(tmp, d, mask, n * C, p);
    return tmp;
}

/* Backward of layer l for samples [b0,b1): dY (rows of TMP(3)) holds the
 * gradient of the layer output on entry and of its input on return. */
static void layer_bwd(bs_brainmass *m, const float *P, float *G, int l, int b0, int b1, int T)
{
    const bs_brainmass_config *c = &m->cfg;
    const int d = c->rois, H = c->heads, ffn = c->ffn, hd = d / H;
    const float p = m->enc_p;
    const bm_layer_off *o = &m->layers[l];
    bm_layer_cache *k = &m->cache[l];
    const size_t r0 = (size_t)b0 * T, n = (size_t)(b1 - b0) * T, nd = n * d;
    const size_t att = (size_t)H * T * T;
    float *dY = TMP(3) + r0 * d, *t4 = TMP(4) + r0 * d, *t5 = TMP(5) + r0 * d;
    float *du = TMP(1) + r0 * ffn, *dqkv = TMP(2) + r0 * 3 * d;
    const float *x = k->x + r0 * d, *ctx = k->ctx + r0 * d, *s1 = k->s1 + r0 * d;
    const float *h1 = k->h1 + r0 * d, *s2 = k->s2 + r0 * d, *u = k->u + r0 * ffn;
    /* LayerNorm2: t4 = d s2 = d h1 (residual); dffn = d FFN output */
    const float *dffn = ln_residual_bwd(t4, t5, dY, s2, k->mean2 + r0, k->rstd2 + r0, P + o->n2_w, G + o->n2_w,
                                        G + o->n2_b, k->drop2 ? k->drop2 + r0 * d : NULL, n, d, p);
    zero(du, n * ffn);
    nn_linear_backward(du, G + o->l2_w, G + o->l2_b, dffn, u, P + o->l2_w, (int)n, ffn, d);
    nn_relu_dropout_backward(du, du, u, n * ffn, p); /* in place */
    nn_linear_backward(t4, G + o->l1_w, G + o->l1_b, du, h1, P + o->l1_w, (int)n, d, ffn);
    /* LayerNorm1: dY = d s1 = dx (residual); dattn = d attention output */
    const float *dattn = ln_residual_bwd(dY, t5, t4, s1, k->mean1 + r0, k->rstd1 + r0, P + o->n1_w, G + o->n1_w,
                                         G + o->n1_b, k->drop1 ? k->drop1 + r0 * d : NULL, n, d, p);
    zero(t4, nd);
    nn_linear_backward(t4, G + o->out_w, G + o->out_b, dattn, ctx, P + o->out_w, (int)n, d, d);
    zero(dqkv, n * 3 * d);
    for (int b = b0; b < b1; b++) {
        nn_attn_dims ad = sample_dims(T, H, hd, p, 0);
        size_t qo = (size_t)b * T * 3 * d;
        const float *q = k->qkv + qo;
        float *dq = TMP(2) + qo;
        nn_attention_backward(dq, dq + d, dq + 2 * d, TMP(4) + (size_t)b * T * d, k->prob + (size_t)b * att,
                              p > 0.0f ? k->adrop + (size_t)b * att : NULL, q, q + d, q + 2 * d, &ad);
    }
    nn_linear_backward(dY, G + o->in_w, G + o->in_b, dqkv, x, P + o->in_w, (int)n, d, 3 * d);
}

void bm_encoder_bwd(bs_brainmass *m, const float *P, float *G, float *unused, int B, int T,
                    uint64_t key)
{
    (void)unused;
    (void)key;
    const size_t ne = m->enc_end;
    int prev = bm_blas_single();
    int used = 1;
#pragma omp parallel num_threads(team_for(m->ws_threads))
    {
        int t = thread_id(), b0, b1;
        my_samples(B, &b0, &b1);
        float *Gt = t == 0 ? G : m->gpriv[t - 1];
        if (t > 0)
            zero(Gt, ne);
        else
            used = team_size();
        if (b1 > b0)
            for (int l = m->cfg.depth - 1; l >= 0; l--)
                layer_bwd(m, P, Gt, l, b0, b1, T);
    }
    /* fixed order over threads for every element */
    if (used > 1) {
#pragma omp parallel for schedule(static) num_threads(team_for(m->ws_threads))
        for (size_t i = 0; i < ne; i++) {
            float s = G[i];
            for (int t = 1; t < used; t++)
                s += m->gpriv[t - 1][i];
            G[i] = s;
        }
    }
    bm_blas_restore(prev);
}

/* ---- activation-free forward ---- */

/* One chunk of samples [b0, b0+nb) through every layer, in the thread's scratch. */
static void chunk_infer(bs_brainmass *m, const float *P, bm_infer_ws *w, const float *in, float *out,
                        int b0, int nb, int T, float p, uint64_t key, float *att, int att_mean)
{
    const bs_brainmass_config *c = &m->cfg;
    const int d = c->rois, H = c->heads, ffn = c->ffn, hd = d / H, L = c->depth;
    const size_t n = (size_t)nb * T, nd = n * d, plane = (size_t)T * T;
    const float eps = (float)c->ln_eps;
    memcpy(w->x, in + (size_t)b0 * T * d, nd * sizeof(float));
    for (int l = 0; l < L; l++) {
        const bm_layer_off *o = &m->layers[l];
        nn_linear_forward(w->qkv, w->x, P + o->in_w, P + o->in_b, (int)n, d, 3 * d);
        for (int i = 0; i < nb; i++) {
            int b = b0 + i;
            nn_attn_dims ad = sample_dims(T, H, hd, p, bm_seed(key, l, SITE_ATTN, b));
            const float *q = w->qkv + (size_t)i * T * 3 * d;
            float *a = NULL;
            if (att && !att_mean)
                a = att + ((size_t)b * L + l) * H * plane;
            else if (att)
                a = w->att;
            nn_attention_forward(w->ctx + (size_t)i * T * d, a, NULL, q, q + d, q + 2 * d, &ad);
            if (att && att_mean)
                nn_attention_average_heads(att + ((size_t)b * L + l) * plane, w->att, 1, H, T, T);
        }
        nn_linear_forward(w->s, w->ctx, P + o->out_w, P + o->out_b, (int)n, d, d);
        if (p > 0.0f)
            dropout_rows(w->s, w->mask, b0, b0 + nb, (size_t)T * d, p, key, l, SITE_RESID1);
        nn_add_layernorm_forward(w->h, w->s, NULL, NULL, w->s, w->x, P + o->n1_w, P + o->n1_b, (int)n, d, eps);
        /* FFN in column blocks of the hidden layer, so the hidden block stays
         * in cache between the two products */
        for (int c0 = 0; c0 < ffn; c0 += BM_FFN_BLOCK) {
            const int cb = ffn - c0 < BM_FFN_BLOCK ? ffn - c0 : BM_FFN_BLOCK;
            nn_linear_forward(w->u, w->h, P + o->l1_w + (size_t)c0 * d, P + o->l1_b + c0, (int)n, d, cb);
            for (int i = 0; i < nb; i++) {
                float *ub = w->u + (size_t)i * T * cb;
                nn_relu_dropout_forward(ub, ub, (size_t)T * cb, p,
                                        nn_seed_mix(bm_seed(key, l, SITE_FFN, b0 + i), (uint64_t)c0, 0));
            }
            nn_linear_forward_ld(w->s, w->u, P + o->l2_w + c0, ffn, c0 == 0 ? P + o->l2_b : NULL, (int)n, cb, d,
                                 c0 > 0);
        }
        if (p > 0.0f)
            dropout_rows(w->s, w->mask, b0, b0 + nb, (size_t)T * d, p, key, l, SITE_RESID2);
        float *dst = l == L - 1 ? out + (size_t)b0 * T * d : w->x;
        nn_add_layernorm_forward(dst, w->s, NULL, NULL, w->s, w->h, P + o->n2_w, P + o->n2_b, (int)n, d, eps);
    }
}

void bm_encoder_infer(bs_brainmass *m, const float *P, const float *in, float *out, int B, int T,
                      float p, uint64_t key, float *att, int att_mean)
{
    const int nchunk = (B + BM_INFER_CHUNK - 1) / BM_INFER_CHUNK;
    int prev = bm_blas_single();
#pragma omp parallel num_threads(team_for(m->iws_threads))
    {
        bm_infer_ws *w = &m->iws[thread_id()];
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nchunk; ch++) {
            int b0 = ch * BM_INFER_CHUNK, nb = B - b0 < BM_INFER_CHUNK ? B - b0 : BM_INFER_CHUNK;
            chunk_infer(m, P, w, in, out, b0, nb, T, p, key, att, att_mean);
        }
    }
    bm_blas_restore(prev);
}
