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
#include "brainstage/nn.h"
#include "bm_internal.h"

#define TMP(i) (m->ws_tmp[i])

static uint64_t pass_key(const bs_brainmass *m, int pass)
{
    return nn_seed_mix(m->seed ^ 0x64726f70ull, (uint64_t)m->step, (uint64_t)pass);
}

static void zero(float *x, size_t n)
{
    memset(x, 0, n * sizeof(float));
}

/* ---- readout: per-token Linear(R -> reduce_dim) + LeakyReLU, flattened ---- */

static void readout_fwd(bs_brainmass *m, const float *P, const float *enc, float *z, int B)
{
    const bs_brainmass_config *c = &m->cfg;
    const int n = B * c->rois;
    nn_linear_forward(z, enc, P + m->red_w, P + m->red_b, n, c->rois, c->reduce_dim);
    nn_leaky_relu_forward(z, z, (size_t)n * c->reduce_dim, (float)c->leaky_slope);
}

/* dz: gradient of the readout output z; dEnc goes to TMP(3) (overwritten). */
static void readout_bwd(bs_brainmass *m, const float *P, float *G, const float *enc, const float *z,
                        const float *dz, int B)
{
    const bs_brainmass_config *c = &m->cfg;
    const int n = B * c->rois;
    const size_t nz = (size_t)n * c->reduce_dim;
    float *dpre = TMP(6); /* free once head_bwd returned: B*E <= B*F2 */
    zero(dpre, nz);
    nn_leaky_relu_backward(dpre, dz, z, nz, (float)c->leaky_slope); /* sign of z = sign of input */
    zero(TMP(3), (size_t)n * c->rois);
    nn_linear_backward(TMP(3), G + m->red_w, G + m->red_b, dpre, enc, P + m->red_w, n, c->rois,
                       c->reduce_dim);
}

/* ---- Linear -> BatchNorm1d -> ReLU -> Linear; input in hc->x ---- */

static void head_fwd(bs_brainmass *m, const float *P, const bm_head_off *h, bm_head_cache *hc,
                     bm_bn_stats *bn, int B, int train, float *out)
{
    const bs_brainmass_config *c = &m->cfg;
    const int Hd = h->n_hidden;
    nn_linear_forward(hc->y1, hc->x, P + h->w0, P + h->b0, B, h->n_in, Hd);
    if (train) {
        nn_batchnorm_forward_train(hc->r, hc->mean, hc->rstd, bn ? bn->mean : NULL, bn ? bn->var : NULL,
                                   hc->y1, P + h->bn_w, P + h->bn_b, B, Hd, (float)c->bn_eps,
                                   (float)c->bn_momentum);
        if (bn)
            bn->count++;
    } else {
        nn_batchnorm_forward_eval(hc->r, hc->y1, P + h->bn_w, P + h->bn_b, bn->mean, bn->var, B, Hd,
                                  (float)c->bn_eps);
    }
    nn_relu_forward(hc->r, hc->r, (size_t)B * Hd);
    nn_linear_forward(out, hc->r, P + h->w3, P + h->b3, B, Hd, h->n_out);
}

/* dout [B, n_out] -> dx [B, n_in] (returned pointer, head scratch TMP(6)). */
static float *head_bwd(bs_brainmass *m, const float *P, float *G, const bm_head_off *h,
                       bm_head_cache *hc, int B, const float *dout)
{
    const int Hd = h->n_hidden;
    /* TMP(6) holds 2*B*F2 + B*Fin floats; Hd <= F2 */
    float *dr = TMP(6), *dy1 = TMP(6) + (size_t)m->ws_batch * Hd, *dx = TMP(6) + (size_t)2 * m->ws_batch * Hd;
    const size_t nh = (size_t)B * Hd;
    zero(dr, nh);
    nn_linear_backward(dr, G + h->w3, G + h->b3, dout, hc->r, P + h->w3, B, Hd, h->n_out);
    nn_relu_dropout_backward(dr, dr, hc->r, nh, 0.0f); /* ReLU from its output, in place */
    zero(dy1, nh);
    nn_batchnorm_backward(dy1, G + h->bn_w, G + h->bn_b, dr, hc->y1, hc->mean, hc->rstd, P + h->bn_w, B, Hd);
    zero(dx, (size_t)B * h->n_in);
    nn_linear_backward(dx, G + h->w0, G + h->b0, dy1, hc->x, P + h->w0, B, h->n_in, Hd);
    return dx;
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
    float *enc = m->cache[m->cfg.depth].x;
    bm_encoder_infer(m, m->target, v, enc, B, R, (float)m->cfg.dropout, pass_key(m, pass), NULL, 0);
    readout_fwd(m, m->target, enc, m->hc_g.x, B);
    head_fwd(m, m->target, &m->g, &m->hc_g, &m->bn_target, B, 1, out);
}

/* Online BYOL pass: pred(g(enc(v))) against target t; forward + backward.
 * Returns the batch mean of 2 - 2 cos. */
static double online_pass(bs_brainmass *m, const float *v, const float *t, int B, int pass)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois, F = c->feature_dim;
    float *P = m->params, *G = m->grads;
    uint64_t key = pass_key(m, pass);
    load_views(m, v, B);
    bm_encoder_fwd(m, P, NULL, B, R, 1, key);
    const float *enc = m->cache[c->depth].x;
    readout_fwd(m, P, enc, m->hc_g.x, B);
    head_fwd(m, P, &m->g, &m->hc_g, &m->bn_online, B, 1, m->hc_pred.x);
    float *pbuf = TMP(9), *dp = TMP(10);
    head_fwd(m, P, &m->pred, &m->hc_pred, &m->bn_pred, B, 1, pbuf);
    double loss = nn_byol_loss_forward(NULL, pbuf, t, B, F);
    zero(dp, (size_t)B * F);
    nn_byol_loss_backward(dp, NULL, pbuf, t, B, F, c->w_byol);
    float *dproj = head_bwd(m, P, G, &m->pred, &m->hc_pred, B, dp);
    memcpy(dp, dproj, sizeof(float) * (size_t)B * F);
    float *dz = head_bwd(m, P, G, &m->g, &m->hc_g, B, dp);
    readout_bwd(m, P, G, enc, m->hc_g.x, dz, B);
    bm_encoder_bwd(m, P, G, NULL, B, R, key);
    return loss;
}

/* Tokens of a masked pass into m->cache[0].x: cls, dist, then the FC rows
 * of v with the masked ones replaced by mask_embed; plus the sinusoid table. */
static void masked_tokens(bs_brainmass *m, const float *P, const float *v, const uint8_t *masked, int B)
{
    const int R = m->cfg.rois, T = R + 2;
    float *rows = TMP(4);
    nn_mask_token_forward(rows, v, P + m->mask_embed, masked, B * R, R);
    /* cls_token and dist_token are consecutive in the parameter block */
    nn_prepend_tokens_forward(m->cache[0].x, rows, P + m->cls_token, B, R, 2, R);
    nn_add_bcast_forward(m->cache[0].x, m->cache[0].x, m->pos_table, B, (size_t)T * R);
}

/* Identification accuracy: predictions whose best-matching original
 * (argmax over originals, i.e. down a column of logits) is their own. */
static int nce_correct(const float *logits, int B, int mk)
{
    int correct = 0;
    for (int b = 0; b < B; b++) {
        const float *lg = logits + (size_t)b * mk * mk;
        for (int j = 0; j < mk; j++) {
            int best = 0;
            for (int i = 1; i < mk; i++)
                if (lg[(size_t)i * mk + j] > lg[(size_t)best * mk + j])
                    best = i;
            correct += best == j;
        }
    }
    return correct;
}

/* Masked-ROI pass on view 1.  kind 0: regression (gpred, MSE); 1: identification
 * (cpred, InfoNCE).  Returns the unweighted loss; *acc gets the accuracy. */
static double masked_pass(bs_brainmass *m, const float *v, const int32_t *idx, int B, int kind,
                          double *acc, int pass)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois, T = R + 2, d = R, ffn = c->ffn;
    const int mk = kind == 0 ? c->mrm_mask : c->nce_mask, M = B * mk;
    const bm_mlp_off *hd = kind == 0 ? &m->gpred : &m->cpred;
    const float slope = (float)c->leaky_slope;
    float *P = m->params, *G = m->grads;
    uint64_t key = pass_key(m, pass);
    uint8_t *masked = m->ws_masked;
    int32_t *rows = m->ws_rows, *src_rows = rows + M, *targets = rows + 2 * M;
    float *lg = m->ws_logits, *probs = lg + (size_t)M * mk, *dlg = lg + (size_t)2 * M * mk;
    memset(masked, 0, (size_t)B * R);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < mk; i++) {
            int r = b * mk + i, roi = idx[r];
            masked[(size_t)b * R + roi] = 1;
            rows[r] = b * T + 2 + roi;     /* encoder output row */
            src_rows[r] = b * R + roi;     /* original FC row */
            targets[r] = i;                /* InfoNCE positive: the diagonal */
        }
    masked_tokens(m, P, v, masked, B);
    bm_encoder_fwd(m, P, NULL, B, T, 1, key);
    const float *enc = m->cache[c->depth].x;
    float *gin = TMP(4), *pred = TMP(5), *orig = TMP(3), *dpred = TMP(2), *dgin = TMP(2) + (size_t)M * d;
    float *hid = TMP(0), *dhid = TMP(1), *dpre = TMP(11);
    nn_gather_rows_forward(gin, enc, rows, M, d);
    nn_gather_rows_forward(orig, v, src_rows, M, d);
    nn_linear_forward(hid, gin, P + hd->w0, P + hd->b0, M, d, ffn);
    nn_leaky_relu_forward(hid, hid, (size_t)M * ffn, slope);
    nn_linear_forward(pred, hid, P + hd->w2, P + hd->b2, M, ffn, d);
    double loss;
    *acc = 0.0;
    zero(dpred, (size_t)M * d);
    if (kind == 0) {
        const double scale = 1.0 / ((double)M * d);
        loss = nn_mse_forward(pred, orig, NULL, (size_t)M * d, scale);
        nn_mse_backward(dpred, NULL, pred, orig, NULL, (size_t)M * d, scale, c->w_mse);
    } else {
        /* per sample: logits = originals (mk x R) . predictions (mk x R)^T */
        nn_bmm_nt_forward(lg, orig, pred, B, mk, mk, d);
        loss = nn_cross_entropy_forward(probs, lg, targets, M, mk);
        *acc = (double)nce_correct(lg, B, mk) / M;
        memset(dlg, 0, sizeof(float) * (size_t)M * mk);
        nn_cross_entropy_backward(dlg, probs, targets, M, mk, c->w_nce);
        nn_bmm_nt_backward(NULL, dpred, dlg, orig, pred, B, mk, mk, d);
    }
    /* head backward */
    zero(dhid, (size_t)M * ffn);
    nn_linear_backward(dhid, G + hd->w2, G + hd->b2, dpred, hid, P + hd->w2, M, ffn, d);
    zero(dpre, (size_t)M * ffn);
    nn_leaky_relu_backward(dpre, dhid, hid, (size_t)M * ffn, slope);
    zero(dgin, (size_t)M * d);
    nn_linear_backward(dgin, G + hd->w0, G + hd->b0, dpre, gin, P + hd->w0, M, d, ffn);
    float *dY = TMP(3);
    zero(dY, (size_t)B * T * d);
    nn_gather_rows_backward(dY, dgin, rows, M, d);
    bm_encoder_bwd(m, P, G, NULL, B, T, key);
    /* token gradients (the positional table is fixed, the FC input has none) */
    nn_prepend_tokens_backward(NULL, G + m->cls_token, dY, B, R, 2, d);
    for (int b = 0; b < B; b++)
        nn_mask_token_backward(NULL, G + m->mask_embed, dY + ((size_t)b * T + 2) * d,
                               masked + (size_t)b * R, R, d);
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
    if (bm_check_finite_fc(view1, batch, R, "view 1", err) || bm_check_finite_fc(view2, batch, R, "view 2", err))
        return err ? err->code : BS_ERR_NUMERIC;
    if (bm_workspace(m, batch, err) || bm_infer_workspace(m, err))
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

/* Eval mode in blocks of BM_EVAL_BLOCK samples: encoder without saved
 * activations, then the readout and (for proj) the projector with running
 * BatchNorm statistics.  Every output pointer may be NULL. */
static int eval_impl(bs_brainmass *m, const float *fc, int64_t n, float *emb, float *proj, float *tokens,
                     float *att, int att_mean, bs_error *err)
{
    const bs_brainmass_config *c = &m->cfg;
    const int R = c->rois, E = c->reduce_dim * R, L = c->depth, H = c->heads;
    const size_t rr = (size_t)R * R, att_per = (size_t)L * (att_mean ? 1 : H) * rr;
    if (n <= 0)
        return BS_OK;
    if (bm_check_finite_fc(fc, n, R, "FC input", err))
        return err ? err->code : BS_ERR_NUMERIC;
    if (bm_infer_workspace(m, err))
        return err ? err->code : BS_ERR_NOMEM;
    for (int64_t s = 0; s < n; s += BM_EVAL_BLOCK) {
        int nb = (int)(n - s < BM_EVAL_BLOCK ? n - s : BM_EVAL_BLOCK);
        float *tok = tokens ? tokens + (size_t)s * rr : m->eval_tok;
        bm_encoder_infer(m, m->params, fc + (size_t)s * rr, tok, nb, R, 0.0f, 0,
                         att ? att + (size_t)s * att_per : NULL, att_mean);
        if (!emb && !proj)
            continue;
        float *z = emb ? emb + (size_t)s * E : m->eval_z;
        readout_fwd(m, m->params, tok, z, nb);
        if (proj) {
            bm_head_cache hc = {z, m->eval_h1, NULL, NULL, m->eval_h2};
            head_fwd(m, m->params, &m->g, &hc, &m->bn_online, nb, 0, proj + (size_t)s * c->feature_dim);
        }
    }
    return BS_OK;
}

static int eval_features(bs_brainmass *m, const float *fc, int64_t n, float *emb, float *proj,
                         float *tokens, float *att, int att_mean, bs_error *err)
{
    int prev = bm_blas_single();
    int rc = eval_impl(m, fc, n, emb, proj, tokens, att, att_mean, err);
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
    return eval_features(m, fc, n, out, NULL, NULL, NULL, 0, err);
}

int bs_brainmass_project(bs_brainmass *m, const float *fc, int64_t n, float *out, bs_error *err)
{
    return eval_features(m, fc, n, NULL, out, NULL, NULL, 0, err);
}

int bs_brainmass_infer(bs_brainmass *m, const float *fc, int64_t n, const bs_brainmass_outputs *out,
                       bs_error *err)
{
    if (!out)
        return bs_error_set(err, BS_ERR_USAGE, "brainmass: infer without outputs");
    return eval_features(m, fc, n, out->embedding, NULL, out->tokens, out->attention,
                         out->average_heads != 0, err);
}
