/* core/brainmass/bm_forward.c - BrainMass forward and backward passes: the
 * encoder stack, readout, BatchNorm heads, the masked-ROI heads and the
 * three losses, assembled into one pretraining step (compute_grads) and the
 * eval-mode embedding.
 *
 * Memory: each of the four online passes runs forward and backward before
 * the next starts (the total loss is a sum, so gradients simply add), so
 * only one pass's activations are alive at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bm_internal.h"

#define TMP(i) (m->ws_tmp[i])

static uint64_t pass_key(const bs_brainmass *m, int pass)
{
    return bm_key(bm_key(m->seed ^ 0x64726f70ull, (uint64_t)m->step), (uint64_t)pass);
}

/* ---- encoder stack ---- */

void bm_encoder_fwd(bs_brainmass *m, const float *P, float *unused, int B, int T, int train,
                    uint64_t key)
{
    (void)unused;
    const bs_brainmass_config *c = &m->cfg;
    const int d = c->rois, H = c->heads, N = B * T, ffn = c->ffn;
    const float p = train ? (float)c->dropout : 0.0f, eps = (float)c->ln_eps;
    for (int l = 0; l < c->depth; l++) {
        bm_layer_cache *k = &m->cache[l];
        const bm_layer_off *o = &m->layers[l];
        float *next = m->cache[l + 1].x;
        uint64_t lk = bm_key(key, (uint64_t)l);
        bm_linear_fwd(k->x, P + o->in_w, P + o->in_b, k->qkv, N, d, 3 * d);
        bm_attention_fwd(k->qkv, k->prob, k->ctx, B, T, d, H, p, bm_key(lk, 1));
        bm_linear_fwd(k->ctx, P + o->out_w, P + o->out_b, k->s1, N, d, d);
        bm_dropout(k->s1, (size_t)N * d, p, bm_key(lk, 2));
        for (size_t i = 0; i < (size_t)N * d; i++)
            k->s1[i] += k->x[i];
        bm_layernorm_fwd(k->s1, P + o->n1_w, P + o->n1_b, k->h1, k->mean1, k->rstd1, N, d, eps);
        bm_linear_fwd(k->h1, P + o->l1_w, P + o->l1_b, k->u, N, d, ffn);
        const size_t nu = (size_t)N * ffn;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < nu; i++)
            k->u[i] = k->u[i] > 0.0f ? k->u[i] : 0.0f;
        const float *ud = k->u;
        if (p > 0.0f) {
            memcpy(TMP(0), k->u, nu * sizeof(float));
            bm_dropout(TMP(0), nu, p, bm_key(lk, 3));
            ud = TMP(0);
        }
        bm_linear_fwd(ud, P + o->l2_w, P + o->l2_b, k->s2, N, ffn, d);
        bm_dropout(k->s2, (size_t)N * d, p, bm_key(lk, 4));
        for (size_t i = 0; i < (size_t)N * d; i++)
            k->s2[i] += k->h1[i];
        bm_layernorm_fwd(k->s2, P + o->n2_w, P + o->n2_b, next, k->mean2, k->rstd2, N, d, eps);
    }
}

/* dY in TMP(3) on entry; dX in TMP(3) on return. */
void bm_encoder_bwd(bs_brainmass *m, const float *P, float *G, float *unused, int B, int T,
                    uint64_t key)
{
    (void)unused;
    const bs_brainmass_config *c = &m->cfg;
    const int d = c->rois, H = c->heads, N = B * T, ffn = c->ffn;
    const float p = (float)c->dropout;
    const size_t nd = (size_t)N * d, nu = (size_t)N * ffn;
    float *dY = TMP(3), *t4 = TMP(4), *t5 = TMP(5);
    for (int l = c->depth - 1; l >= 0; l--) {
        bm_layer_cache *k = &m->cache[l];
        const bm_layer_off *o = &m->layers[l];
        uint64_t lk = bm_key(key, (uint64_t)l);
        /* LayerNorm2: t4 = d s2 (also the residual gradient into h1) */
        bm_layernorm_bwd(dY, k->s2, k->mean2, k->rstd2, P + o->n2_w, t4, G + o->n2_w, G + o->n2_b, N, d);
        memcpy(t5, t4, nd * sizeof(float));
        bm_dropout(t5, nd, p, bm_key(lk, 4));
        const float *ud = k->u;
        if (p > 0.0f) {
            memcpy(TMP(0), k->u, nu * sizeof(float));
            bm_dropout(TMP(0), nu, p, bm_key(lk, 3));
            ud = TMP(0);
        }
        bm_linear_bwd(t5, ud, P + o->l2_w, TMP(1), G + o->l2_w, G + o->l2_b, N, ffn, d, 0);
        bm_dropout(TMP(1), nu, p, bm_key(lk, 3));
        float *du = TMP(1);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < nu; i++)
            if (!(k->u[i] > 0.0f))
                du[i] = 0.0f;
        bm_linear_bwd(du, k->h1, P + o->l1_w, t4, G + o->l1_w, G + o->l1_b, N, d, ffn, 1);
        /* LayerNorm1: dY = d s1 (also the residual gradient into x) */
        bm_layernorm_bwd(t4, k->s1, k->mean1, k->rstd1, P + o->n1_w, dY, G + o->n1_w, G + o->n1_b, N, d);
        memcpy(t5, dY, nd * sizeof(float));
        bm_dropout(t5, nd, p, bm_key(lk, 2));
        bm_linear_bwd(t5, k->ctx, P + o->out_w, t4, G + o->out_w, G + o->out_b, N, d, d, 0);
        bm_attention_bwd(t4, k->qkv, k->prob, TMP(2), B, T, d, H, p, bm_key(lk, 1));
        bm_linear_bwd(TMP(2), k->x, P + o->in_w, dY, G + o->in_w, G + o->in_b, N, d, 3 * d, 1);
    }
}

/* ---- readout: per-token Linear(R -> reduce_dim) + LeakyReLU, flattened ---- */

static void readout_fwd(bs_brainmass *m, const float *P, const float *enc, float *z, int B)
{
    const bs_brainmass_config *c = &m->cfg;
    const int n = B * c->rois;
    bm_linear_fwd(enc, P + m->red_w, P + m->red_b, z, n, c->rois, c->reduce_dim);
    const float s = (float)c->leaky_slope;
    for (size_t i = 0; i < (size_t)n * c->reduce_dim; i++)
        if (z[i] < 0.0f)
            z[i] *= s;
}

/* dz (overwritten with the pre-activation gradient) -> dEnc into TMP(3). */
static void readout_bwd(bs_brainmass *m, const float *P, float *G, const float *enc, const float *z,
                        float *dz, int B)
{
    const bs_brainmass_config *c = &m->cfg;
    const int n = B * c->rois;
    const float s = (float)c->leaky_slope;
    for (size_t i = 0; i < (size_t)n * c->reduce_dim; i++)
        if (z[i] < 0.0f)
            dz[i] *= s;
    bm_linear_bwd(dz, enc, P + m->red_w, TMP(3), G + m->red_w, G + m->red_b, n, c->rois,
                  c->reduce_dim, 0);
}

/* ---- Linear -> BatchNorm1d -> ReLU -> Linear; input in hc->x ---- */

static void head_fwd(bs_brainmass *m, const float *P, const bm_head_off *h, bm_head_cache *hc,
                     bm_bn_stats *bn, int B, int train, float *out)
{
    const bs_brainmass_config *c = &m->cfg;
    const int Hd = h->n_hidden;
    float *y1 = TMP(6);
    bm_linear_fwd(hc->x, P + h->w0, P + h->b0, y1, B, h->n_in, Hd);
    const float *gam = P + h->bn_w, *bet = P + h->bn_b;
    const double eps = c->bn_eps, mom = c->bn_momentum;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < Hd; j++) {
        double mu, var, r;
        if (train) {
            double s = 0.0, ss = 0.0;
            for (int b = 0; b < B; b++)
                s += y1[(size_t)b * Hd + j];
            mu = s / B;
            for (int b = 0; b < B; b++) {
                double e = y1[(size_t)b * Hd + j] - mu;
                ss += e * e;
            }
            var = ss / B;
            if (bn) {
                bn->mean[j] = (float)((1.0 - mom) * bn->mean[j] + mom * mu);
                double unb = B > 1 ? ss / (B - 1) : var;
                bn->var[j] = (float)((1.0 - mom) * bn->var[j] + mom * unb);
            }
        } else {
            mu = bn->mean[j];
            var = bn->var[j];
        }
        r = 1.0 / sqrt(var + eps);
        hc->rstd[j] = (float)r;
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)b * Hd + j;
            float xh = (float)((y1[i] - mu) * r);
            hc->xhat[i] = xh;
            float y2 = xh * gam[j] + bet[j];
            hc->r[i] = y2 > 0.0f ? y2 : 0.0f;
        }
    }
    if (train && bn)
        bn->count++;
    bm_linear_fwd(hc->r, P + h->w3, P + h->b3, out, B, Hd, h->n_out);
}

/* dout [B, n_out] -> dx [B, n_in] (returned pointer, head scratch). */
static float *head_bwd(bs_brainmass *m, const float *P, float *G, const bm_head_off *h,
                       bm_head_cache *hc, int B, const float *dout)
{
    const int Hd = h->n_hidden;
    float *dr = TMP(6), *dy1 = TMP(6) + (size_t)m->ws_batch * Hd, *dx = TMP(6) + (size_t)2 * m->ws_batch * Hd;
    /* TMP(6) holds 2*B*F2 + B*Fin floats; Hd <= F2 */
    bm_linear_bwd(dout, hc->r, P + h->w3, dr, G + h->w3, G + h->b3, B, Hd, h->n_out, 0);
    const float *gam = P + h->bn_w;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < Hd; j++) {
        double sg = 0.0, sb = 0.0;
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)b * Hd + j;
            float dy2 = hc->r[i] > 0.0f ? dr[i] : 0.0f;
            sb += dy2;
            sg += (double)dy2 * hc->xhat[i];
        }
        G[h->bn_w + j] += (float)sg;
        G[h->bn_b + j] += (float)sb;
        /* with dxhat = dy2 * gamma: dy1 = rstd/B (B dxhat - sum dxhat - xhat sum dxhat xhat) */
        double k1 = sb * gam[j] / B, k2 = sg * gam[j] / B, r = hc->rstd[j];
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)b * Hd + j;
            float dy2 = hc->r[i] > 0.0f ? dr[i] : 0.0f;
            dy1[i] = (float)(r * ((double)dy2 * gam[j] - k1 - hc->xhat[i] * k2));
        }
    }
    bm_linear_bwd(dy1, hc->x, P + h->w0, dx, G + h->w0, G + h->b0, B, h->n_in, Hd, 0);
    return dx;
}

/* ---- BYOL regression loss of one pair: returns sum_b (2 - 2 cos(p_b, t_b));
 * dp receives the gradient of w times that sum ---- */

static double byol_pair(const float *p, const float *t, float *dp, int B, int F, double w)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *pb = p + (size_t)b * F, *tb = t + (size_t)b * F;
        double pp = 0.0, tt = 0.0, pt = 0.0;
        for (int j = 0; j < F; j++) {
            pp += (double)pb[j] * pb[j];
            tt += (double)tb[j] * tb[j];
            pt += (double)pb[j] * tb[j];
        }
        double np = fmax(sqrt(pp), 1e-12), nt = fmax(sqrt(tt), 1e-12);
        double cosv = pt / (np * nt);
        total += 2.0 - 2.0 * cosv;
        for (int j = 0; j < F; j++) {
            double g;
            if (sqrt(pp) > 1e-12)
                g = -2.0 * w * (tb[j] / nt - cosv * pb[j] / np) / np;
            else
                g = -2.0 * w * (tb[j] / nt) / np;
            dp[(size_t)b * F + j] = (float)g;
        }
    }
    return total;
}

/* ---- pass helpers ---- */

static void load_views(bs_brainmass *m, const float *v, int B)
{
    memcpy(m->cache[0].x, v, sizeof(float) * (size_t)B * m->cfg.rois * m->cfg.rois);
}

/* Target network forward (no gradients, train-mode BatchNorm): out [B,F]. */
static void target_pass(bs_brainmass *m, const float *v, int B, float *out, int pass)
{
    const int R = m->cfg.rois;
    load_views(m, v, B);
    bm_encoder_fwd(m, m->target, NULL, B, R, 1, pass_key(m, pass));
    readout_fwd(m, m->target, m->cache[m->cfg.depth].x, m->hc_g.x, B);
    head_fwd(m, m->target, &m->g, &m->hc_g, &m->bn_target, B, 1, out);
}

/* Online BYOL pass: pred(g(enc(v))) against target t; forward + backward. */
static double online_pass(bs_brainmass *m, const float *v, const float *t, int B, int pass)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois;
    float *P = m->params, *G = m->grads;
    uint64_t key = pass_key(m, pass);
    load_views(m, v, B);
    bm_encoder_fwd(m, P, NULL, B, R, 1, key);
    const float *enc = m->cache[c->depth].x;
    readout_fwd(m, P, enc, m->hc_g.x, B);
    head_fwd(m, P, &m->g, &m->hc_g, &m->bn_online, B, 1, m->hc_pred.x);
    float *pbuf = TMP(9), *dp = TMP(10);
    head_fwd(m, P, &m->pred, &m->hc_pred, &m->bn_pred, B, 1, pbuf);
    double loss = byol_pair(pbuf, t, dp, B, c->feature_dim, c->w_byol / B);
    float *dproj = head_bwd(m, P, G, &m->pred, &m->hc_pred, B, dp);
    memcpy(dp, dproj, sizeof(float) * (size_t)B * c->feature_dim);
    float *dz = head_bwd(m, P, G, &m->g, &m->hc_g, B, dp);
    readout_bwd(m, P, G, enc, m->hc_g.x, dz, B);
    bm_encoder_bwd(m, P, G, NULL, B, R, key);
    return loss / B; /* unweighted batch mean of this pair */
}

/* Masked-ROI pass on view 1.  kind 0: regression (gpred, MSE); 1: identification
 * (cpred, InfoNCE).  Returns the unweighted loss; *acc gets the accuracy. */
static double masked_pass(bs_brainmass *m, const float *v, const int32_t *idx, int B, int kind,
                          double *acc, int pass)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois, T = R + 2, d = R, ffn = c->ffn;
    const int mk = kind == 0 ? c->mrm_mask : c->nce_mask;
    const bm_mlp_off *hd = kind == 0 ? &m->gpred : &m->cpred;
    float *P = m->params, *G = m->grads;
    uint64_t key = pass_key(m, pass);
    uint8_t *masked = calloc((size_t)B * R, 1);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < mk; i++)
            masked[(size_t)b * R + idx[(size_t)b * mk + i]] = 1;
    /* tokens: cls, dist, then FC rows with masked rows replaced; plus the table */
    float *x = m->cache[0].x;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *src;
            if (t == 0)
                src = P + m->cls_token;
            else if (t == 1)
                src = P + m->dist_token;
            else if (masked[(size_t)b * R + t - 2])
                src = P + m->mask_embed;
            else
                src = v + ((size_t)b * R + t - 2) * R;
            float *dst = x + ((size_t)b * T + t) * d;
            const float *pe = m->pos_table + (size_t)t * d;
            for (int j = 0; j < d; j++)
                dst[j] = src[j] + pe[j];
        }
    bm_encoder_fwd(m, P, NULL, B, T, 1, key);
    const float *enc = m->cache[c->depth].x;
    const int M = B * mk;
    float *gin = TMP(4), *pred = TMP(5), *dpred = TMP(2), *dgin = TMP(2) + (size_t)M * d;
    float *hid = TMP(0), *dhid = TMP(1);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < mk; i++)
            memcpy(gin + ((size_t)b * mk + i) * d, enc + ((size_t)b * T + 2 + idx[(size_t)b * mk + i]) * d,
                   sizeof(float) * d);
    bm_linear_fwd(gin, P + hd->w0, P + hd->b0, hid, M, d, ffn);
    const float s = (float)c->leaky_slope;
    for (size_t i = 0; i < (size_t)M * ffn; i++)
        if (hid[i] < 0.0f)
            hid[i] *= s;
    bm_linear_fwd(hid, P + hd->w2, P + hd->b2, pred, M, ffn, d);
    double loss = 0.0;
    *acc = 0.0;
    if (kind == 0) {
        double sum = 0.0, scale = 1.0 / ((double)M * d);
        for (int r = 0; r < M; r++) {
            int b = r / mk;
            const float *orig = v + ((size_t)b * R + idx[r]) * R;
            for (int j = 0; j < d; j++) {
                double e = (double)pred[(size_t)r * d + j] - orig[j];
                sum += e * e;
                dpred[(size_t)r * d + j] = (float)(c->w_mse * 2.0 * e * scale);
            }
        }
        loss = sum * scale;
    } else {
        double *lg = malloc(sizeof(double) * (size_t)mk * mk);
        int correct = 0;
        double sum = 0.0, wscale = c->w_nce / ((double)B * mk);
        for (int b = 0; b < B; b++) {
            const float *pb = pred + (size_t)b * mk * d;
            float *dpb = dpred + (size_t)b * mk * d;
            for (int i = 0; i < mk; i++) {
                const float *oi = v + ((size_t)b * R + idx[(size_t)b * mk + i]) * R;
                for (int j = 0; j < mk; j++) {
                    float acc_f = 0.0f;
                    for (int q = 0; q < d; q++)
                        acc_f += oi[q] * pb[(size_t)j * d + q];
                    lg[(size_t)i * mk + j] = acc_f;
                }
            }
            for (int j = 0; j < mk; j++) { /* accuracy: argmax over originals per prediction */
                int best = 0;
                for (int i = 1; i < mk; i++)
                    if (lg[(size_t)i * mk + j] > lg[(size_t)best * mk + j])
                        best = i;
                correct += best == j;
            }
            memset(dpb, 0, sizeof(float) * (size_t)mk * d);
            for (int i = 0; i < mk; i++) {
                double *row = lg + (size_t)i * mk, mx = row[0], z = 0.0;
                for (int j = 1; j < mk; j++)
                    mx = fmax(mx, row[j]);
                for (int j = 0; j < mk; j++)
                    z += exp(row[j] - mx);
                double lz = mx + log(z);
                sum += row[i] - lz;
                const float *oi = v + ((size_t)b * R + idx[(size_t)b * mk + i]) * R;
                for (int j = 0; j < mk; j++) {
                    double sm = exp(row[j] - lz);
                    double g = -wscale * ((i == j ? 1.0 : 0.0) - sm); /* d loss / d logit_ij */
                    for (int q = 0; q < d; q++)
                        dpb[(size_t)j * d + q] += (float)(g * oi[q]);
                }
            }
        }
        loss = -sum / ((double)B * mk);
        *acc = (double)correct / ((double)B * mk);
        free(lg);
    }
    /* head backward */
    bm_linear_bwd(dpred, hid, P + hd->w2, dhid, G + hd->w2, G + hd->b2, M, ffn, d, 0);
    for (size_t i = 0; i < (size_t)M * ffn; i++)
        if (hid[i] < 0.0f)
            dhid[i] *= s;
    bm_linear_bwd(dhid, gin, P + hd->w0, dgin, G + hd->w0, G + hd->b0, M, d, ffn, 0);
    float *dY = TMP(3);
    memset(dY, 0, sizeof(float) * (size_t)B * T * d);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < mk; i++) {
            float *dst = dY + ((size_t)b * T + 2 + idx[(size_t)b * mk + i]) * d;
            const float *src = dgin + ((size_t)b * mk + i) * d;
            for (int j = 0; j < d; j++)
                dst[j] += src[j];
        }
    bm_encoder_bwd(m, P, G, NULL, B, T, key);
    /* token gradients (the positional table is fixed) */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *dst;
            if (t == 0)
                dst = G + m->cls_token;
            else if (t == 1)
                dst = G + m->dist_token;
            else if (masked[(size_t)b * R + t - 2])
                dst = G + m->mask_embed;
            else
                continue;
            const float *src = dY + ((size_t)b * T + t) * d;
            for (int j = 0; j < d; j++)
                dst[j] += src[j];
        }
    free(masked);
    return loss;
}

static int check_indices(const int32_t *idx, int B, int mk, int R, const char *what, bs_error *err)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < mk; i++) {
            int32_t v = idx[(size_t)b * mk + i];
            if (v < 0 || v >= R)
                return bs_error_set(err, BS_ERR_USAGE, "brainmass: %s[%d][%d]=%d: expected 0..%d",
                                    what, b, i, v, R - 1);
            for (int j = 0; j < i; j++)
                if (idx[(size_t)b * mk + j] == v)
                    return bs_error_set(err, BS_ERR_USAGE,
                                        "brainmass: %s[%d]: ROI %d masked twice", what, b, v);
        }
    return BS_OK;
}

static void draw_masks(bs_brainmass *m, int32_t *idx, int B, int mk)
{
    const int R = m->cfg.rois;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)R);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < R; i++)
            perm[i] = i;
        bs_rng_partial_shuffle(m->rng, perm, R, mk);
        memcpy(idx + (size_t)b * mk, perm, sizeof(int32_t) * (size_t)mk);
    }
    free(perm);
}

static int compute_grads(bs_brainmass *m, const float *view1, const float *view2, int batch,
                               const int32_t *mrm_idx, const int32_t *nce_idx,
                               bs_brainmass_losses *out, bs_error *err)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois;
    if (batch < 2)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmass: training batch=%d: BatchNorm needs at least 2 samples", batch);
    size_t nv = (size_t)batch * R * R;
    if (bm_check_finite(view1, nv, "view 1", err) || bm_check_finite(view2, nv, "view 2", err))
        return err ? err->code : BS_ERR_NUMERIC;
    if (bm_workspace(m, batch, err))
        return err ? err->code : BS_ERR_NOMEM;
    int32_t *own_mrm = NULL, *own_nce = NULL;
    if (!mrm_idx) {
        own_mrm = malloc(sizeof(int32_t) * (size_t)batch * c->mrm_mask);
        draw_masks(m, own_mrm, batch, c->mrm_mask);
        mrm_idx = own_mrm;
    }
    if (!nce_idx) {
        own_nce = malloc(sizeof(int32_t) * (size_t)batch * c->nce_mask);
        draw_masks(m, own_nce, batch, c->nce_mask);
        nce_idx = own_nce;
    }
    int rc = check_indices(mrm_idx, batch, c->mrm_mask, R, "mrm_idx", err);
    if (!rc)
        rc = check_indices(nce_idx, batch, c->nce_mask, R, "nce_idx", err);
    if (rc) {
        free(own_mrm);
        free(own_nce);
        return rc;
    }
    memset(m->grads, 0, sizeof(float) * m->n_params);
    bs_brainmass_losses L = {0};
    float *t_of_1 = TMP(7), *t_of_2 = TMP(8);
    target_pass(m, view1, batch, t_of_1, 0);
    target_pass(m, view2, batch, t_of_2, 1);
    double acc = 0.0, dummy = 0.0;
    L.nce = masked_pass(m, view1, nce_idx, batch, 1, &acc, 2);
    L.nce_acc = acc;
    L.mse = masked_pass(m, view1, mrm_idx, batch, 0, &dummy, 3);
    L.byol = online_pass(m, view1, t_of_2, batch, 4);
    L.byol += online_pass(m, view2, t_of_1, batch, 5);
    L.total = c->w_byol * L.byol + c->w_nce * L.nce + c->w_mse * L.mse;
    free(own_mrm);
    free(own_nce);
    if (out)
        *out = L;
    if (!isfinite(L.total))
        return bs_error_set(err, BS_ERR_NUMERIC, "brainmass: step %lld: loss is not finite (%g)",
                            (long long)m->step, L.total);
    return BS_OK;
}

/* ---- inference ---- */

#define EMBED_CHUNK 32

static int eval_features_impl(bs_brainmass *m, const float *fc, int64_t n, float *emb, float *proj,
                         bs_error *err)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois, E = c->reduce_dim * R;
    if (n <= 0)
        return BS_OK;
    if (bm_check_finite(fc, (size_t)n * R * R, "FC input", err))
        return err ? err->code : BS_ERR_NUMERIC;
    int chunk = n < EMBED_CHUNK ? (int)n : EMBED_CHUNK;
    if (m->ws_batch > chunk)
        chunk = m->ws_batch < n ? m->ws_batch : (int)n;
    if (bm_workspace(m, chunk, err))
        return err ? err->code : BS_ERR_NOMEM;
    for (int64_t s = 0; s < n; s += chunk) {
        int B = (int)(n - s < chunk ? n - s : chunk);
        load_views(m, fc + (size_t)s * R * R, B);
        bm_encoder_fwd(m, m->params, NULL, B, R, 0, 0);
        readout_fwd(m, m->params, m->cache[c->depth].x, m->hc_g.x, B);
        if (emb)
            memcpy(emb + (size_t)s * E, m->hc_g.x, sizeof(float) * (size_t)B * E);
        if (proj)
            head_fwd(m, m->params, &m->g, &m->hc_g, &m->bn_online, B, 0,
                     proj + (size_t)s * c->feature_dim);
    }
    return BS_OK;
}

static int eval_features(bs_brainmass *m, const float *fc, int64_t n, float *emb, float *proj,
                         bs_error *err)
{
    int prev = bm_blas_single();
    int rc = eval_features_impl(m, fc, n, emb, proj, err);
    bm_blas_restore(prev);
    return rc;
}

int bs_brainmass_compute_grads(bs_brainmass *m, const float *view1, const float *view2, int batch,
                               const int32_t *mrm_idx, const int32_t *nce_idx,
                               bs_brainmass_losses *out, bs_error *err)
{
    int prev = bm_blas_single();
    int rc = compute_grads(m, view1, view2, batch, mrm_idx, nce_idx, out, err);
    bm_blas_restore(prev);
    return rc;
}

int bs_brainmass_embed(bs_brainmass *m, const float *fc, int64_t n, float *out, bs_error *err)
{
    return eval_features(m, fc, n, out, NULL, err);
}

int bs_brainmass_project(bs_brainmass *m, const float *fc, int64_t n, float *out, bs_error *err)
{
    return eval_features(m, fc, n, NULL, out, err);
}
