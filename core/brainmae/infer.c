/* core/brainmae/infer.c - BrainMAE inference on one prepared subject:
 * per-sample (CLS), per-window and per-subject embeddings and the attention
 * over windows from an unmasked pass, masked reconstruction from a second
 * pass. */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/rng.h"

#define INFER_BATCH 8

void bs_brainmae_inference_free(bs_brainmae_inference *r)
{
    if (!r) return;
    free(r->sample_embed);
    free(r->seg_embed);
    free(r->subject_embed);
    free(r->seg_attention);
    free(r->recon);
    free(r->target);
    free(r->mask);
    memset(r, 0, sizeof *r);
}

int bs_brainmae_infer(bs_brainmae *m, const bs_brainmae_prepared *p, double ratio, uint64_t seed,
                      bs_brainmae_inference *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    const bs_brainmae_config *c = &m->cfg;
    const int S = c->n_segments, R = c->n_rois, tau = c->seg_len, d = c->d_model;
    if (p->n_rois != R || p->seg_len != tau)
        return bs_error_set(err, BS_ERR_DATA,
                            "brainmae: data prepared for %d ROIs x %d samples, model needs %d x %d",
                            p->n_rois, p->seg_len, R, tau);
    if (!(ratio >= 0 && ratio < 1))
        return bs_error_set(err, BS_ERR_USAGE, "brainmae: mask_ratio: expected in [0, 1), got %g",
                            ratio);
    const int ns = p->n_seg / S;
    if (ns < 1)
        return bs_error_set(err, BS_ERR_DATA, "brainmae: %d windows, need at least %d", p->n_seg, S);
    const size_t per = (size_t)S * R, nseg = (size_t)ns * S;
    out->n_samples = ns;
    out->d_model = d;
    out->n_segments = S;
    out->n_rois = R;
    out->seg_len = tau;
    out->sample_embed = calloc((size_t)ns * d, sizeof(float));
    out->seg_embed = calloc(nseg * d, sizeof(float));
    out->subject_embed = calloc((size_t)d, sizeof(float));
    out->seg_attention = calloc(nseg, sizeof(float));
    out->recon = calloc(nseg * R * tau, sizeof(float));
    out->target = calloc(nseg * R * tau, sizeof(float));
    out->mask = calloc(nseg * R, 1);
    uint8_t *nomask = calloc(per * INFER_BATCH, 1), *valid = malloc((size_t)R * INFER_BATCH);
    if (!out->sample_embed || !out->seg_embed || !out->subject_embed || !out->seg_attention ||
        !out->recon || !out->target || !out->mask || !nomask || !valid) {
        free(nomask);
        free(valid);
        bs_brainmae_inference_free(out);
        return bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
    }
    memcpy(out->target, p->seg, sizeof(float) * nseg * R * tau);
    for (int b = 0; b < INFER_BATCH; b++) memcpy(valid + (size_t)b * R, p->valid, (size_t)R);
    for (int s = 0; s < ns; s++) {
        bs_rng *rng = bs_rng_derive(seed, (uint64_t)s);
        bs_brainmae_draw_mask(rng, S, R, p->valid, ratio, out->mask + (size_t)s * per);
        bs_rng_free(rng);
    }
    int rc = BS_OK;
    double sse = 0;
    int64_t cnt = 0;
    for (int s0 = 0; rc == BS_OK && s0 < ns; s0 += INFER_BATCH) {
        const int nb = s0 + INFER_BATCH <= ns ? INFER_BATCH : ns - s0;
        const float *x = p->seg + (size_t)s0 * per * tau;
        rc = bs_brainmae_forward(m, nb, x, nomask, valid, NULL, err);
        if (rc) break;
        memcpy(out->sample_embed + (size_t)s0 * d, m->cls_out, sizeof(float) * (size_t)nb * d);
        memcpy(out->seg_embed + (size_t)s0 * S * d, m->segemb,
               sizeof(float) * (size_t)nb * S * d);
        bs_brainmae_segment_attention(m, out->seg_attention + (size_t)s0 * S);
        const uint8_t *mk = out->mask + (size_t)s0 * per;
        if (ratio > 0) rc = bs_brainmae_forward(m, nb, x, mk, valid, NULL, err);
        if (rc) break;
        memcpy(out->recon + (size_t)s0 * per * tau, m->recon,
               sizeof(float) * (size_t)nb * per * tau);
        for (size_t t = 0; t < (size_t)nb * per; t++) {
            if (!mk[t] || !p->valid[t % R]) continue;
            for (int j = 0; j < tau; j++) {
                double e = m->recon[t * tau + j] - x[t * tau + j];
                sse += e * e;
            }
            cnt += tau;
        }
    }
    free(nomask);
    free(valid);
    if (rc) {
        bs_brainmae_inference_free(out);
        return rc;
    }
    for (int j = 0; j < d; j++) {
        double acc = 0;
        for (int s = 0; s < ns; s++) acc += out->sample_embed[(size_t)s * d + j];
        out->subject_embed[j] = (float)(acc / ns);
    }
    out->masked_mse = cnt ? sse / (double)cnt : NAN;
    return BS_OK;
}
