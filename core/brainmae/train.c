/* core/brainmae/train.c - group-level BrainMAE pretraining: random samples of
 * n_segments consecutive windows per subject, mask ratio drawn per batch,
 * AdamW, periodic safetensors checkpoints and exact resume. */
#include "checkpoint.h"
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/log.h"
#include "brainstage/nn.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"

void bs_brainmae_train_defaults(bs_brainmae_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 100;
    o->batch = 16;
    bs_adamw_defaults(&o->opt);
    o->mask_max = 0.8;
    o->seed = 1;
    o->checkpoint_every = 10;
}

/* Copies sample `start` (segment index) of subject p into x/valid rows. */
static void fill_sample(const bs_brainmae_prepared *p, int start, int S, float *x, uint8_t *valid)
{
    const size_t seg = (size_t)p->n_rois * p->seg_len;
    memcpy(x, p->seg + (size_t)start * seg, sizeof(float) * seg * (size_t)S);
    memcpy(valid, p->valid, (size_t)p->n_rois);
}

int bs_brainmae_pretrain(bs_brainmae *m, const bs_brainmae_prepared *subs, int n,
                         const bs_brainmae_train_options *o, bs_brainmae_train_report *rep,
                         bs_error *err)
{
    const bs_brainmae_config *c = &m->cfg;
    const int S = c->n_segments, R = c->n_rois, tau = c->seg_len;
    if (n < 1) return bs_error_set(err, BS_ERR_USAGE, "brainmae pretrain: no subjects");
    if (o->epochs < 1 || o->batch < 1)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae pretrain: epochs and batch must be >= 1 (got %d, %d)",
                            o->epochs, o->batch);
    if (!(o->mask_max > 0 && o->mask_max < 1))
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae pretrain: mask_max: expected in (0, 1), got %g", o->mask_max);
    for (int i = 0; i < n; i++)
        if (subs[i].n_rois != R || subs[i].seg_len != tau || subs[i].n_seg < S)
            return bs_error_set(err, BS_ERR_DATA,
                                "brainmae pretrain: subject %d: prepared for %d ROIs x %d-sample "
                                "windows (%d windows), model needs %d x %d (>= %d windows)",
                                i, subs[i].n_rois, subs[i].seg_len, subs[i].n_seg, R, tau, S);
    /* windows are whole samples: one TR for the cohort (1 % tolerance) */
    for (int i = 1; i < n; i++)
        if (fabs(subs[i].tr - subs[0].tr) > 0.01 * subs[0].tr)
            return bs_error_set(err, BS_ERR_DATA,
                                "brainmae pretrain: %s has TR %g s but %s has %g s: the %d-sample "
                                "windows would last different times; resample the runs to one TR "
                                "or pretrain them separately",
                                subs[i].name ? subs[i].name : "a run", subs[i].tr,
                                subs[0].name ? subs[0].name : "the first run", subs[0].tr, tau);
    int first_epoch = 0;
    if (o->resume && o->checkpoint && access(o->checkpoint, F_OK) == 0) {
        if (mae_checkpoint_load_into(m, o->checkpoint, 1, &first_epoch, err))
            return bs_error_prefix(err, "brainmae pretrain: resume: ");
        bs_log(BS_LOG_INFO, "brainmae: resuming from %s at epoch %d (step %lld)", o->checkpoint,
               first_epoch, (long long)m->step);
    }
    const int B = o->batch < n ? o->batch : n;
    const size_t per = (size_t)S * R;
    float *x = bs_alloc_floats(per * tau * (size_t)B);
    uint8_t *mask = malloc(per * (size_t)B), *valid = malloc((size_t)R * B);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)n);
    if (!x || !mask || !valid || !order) {
        bs_free(x);
        free(mask);
        free(valid);
        free(order);
        return bs_error_set(err, BS_ERR_NOMEM, "brainmae pretrain: out of memory");
    }
    int rc = BS_OK;
    if (rep) {
        rep->epochs_done = first_epoch;
        rep->first_loss = rep->last_loss = NAN;
    }
    const int steps_per_epoch = (n + B - 1) / B;
    if (!o->quiet) bs_progress_begin("brainmae pretrain", (int64_t)(o->epochs - first_epoch));
    for (int ep = first_epoch; rc == BS_OK && ep < o->epochs; ep++) {
        /* one stream per epoch: resuming at an epoch boundary replays exactly */
        bs_rng *rng = bs_rng_derive(o->seed, (uint64_t)ep);
        for (int i = 0; i < n; i++) order[i] = i;
        bs_rng_partial_shuffle(rng, order, n, n);
        double sum = 0;
        for (int st = 0; rc == BS_OK && st < steps_per_epoch; st++) {
            const int b0 = st * B, nb = (b0 + B <= n) ? B : n - b0;
            /* mask ratio ~ U(0, mask_max), open at 0 so every batch masks something */
            double ratio = o->mask_max * (1.0 - bs_rng_uniform(rng));
            for (int b = 0; b < nb; b++) {
                const bs_brainmae_prepared *p = &subs[order[b0 + b]];
                int start = (int)bs_rng_uniform_int(rng, (uint64_t)(p->n_seg - S + 1));
                fill_sample(p, start, S, x + (size_t)b * per * tau, valid + (size_t)b * R);
                bs_brainmae_draw_mask(rng, S, R, p->valid, ratio, mask + (size_t)b * per);
            }
            float loss;
            bs_brainmae_zero_grad(m);
            /* dropout masks from (seed, step): a resumed run draws the same */
            rc = bs_brainmae_forward_train(m, nb, x, mask, valid,
                                           nn_seed_mix(o->seed, (uint64_t)m->step, 0), &loss, err);
            if (!rc) rc = bs_brainmae_backward(m, err);
            if (!rc) bs_brainmae_adamw_step(m, &o->opt);
            sum += loss;
        }
        bs_rng_free(rng);
        if (rc) break;
        const double mean = sum / steps_per_epoch;
        if (rep) {
            if (ep == first_epoch) rep->first_loss = mean;
            rep->last_loss = mean;
            rep->epochs_done = ep + 1;
        }
        bs_log(BS_LOG_DEBUG, "brainmae: epoch %d loss %.6f", ep + 1, mean);
        if (o->checkpoint &&
            ((o->checkpoint_every > 0 && (ep + 1) % o->checkpoint_every == 0) ||
             ep + 1 == o->epochs))
            rc = mae_checkpoint_save(m, o->checkpoint, 1, ep + 1, err);
        if (!o->quiet) bs_progress_update((int64_t)(ep + 1 - first_epoch));
    }
    if (!o->quiet) bs_progress_end();
    bs_free(x);
    free(mask);
    free(valid);
    free(order);
    return rc;
}
