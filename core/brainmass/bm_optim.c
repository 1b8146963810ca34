/* core/brainmass/bm_optim.c - one optimizer update of BrainMass: gradient
 * value clipping, AdamW (PyTorch's formula and defaults), and the EMA move
 * of the target network towards the online network. */
#include <math.h>
#include "bm_internal.h"

static void adamw_range(bs_brainmass *m, size_t off, size_t n, float lr, float wd, int64_t t)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const double bc1 = 1.0 - pow(0.9, (double)t), bc2 = 1.0 - pow(0.999, (double)t);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * wd;
    float *p = m->params + off, *g = m->grads + off, *mm = m->adam_m + off, *v = m->adam_v + off;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        mm[i] = mm[i] * b1 + g[i] * (1.0f - b1);
        v[i] = v[i] * b2 + g[i] * g[i] * (1.0f - b2);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (mm[i] / denom);
    }
}

void bs_brainmass_apply_update(bs_brainmass *m, double lr, double weight_decay, double clip)
{
    if (clip > 0.0) {
        const float c = (float)clip;
        float *g = m->grads;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < m->n_params; i++)
            g[i] = g[i] > c ? c : (g[i] < -c ? -c : g[i]);
    }
    m->step++;
    for (int i = 0; i < m->n_entries; i++) {
        const bm_entry *e = &m->entries[i];
        if (e->kind != BM_KIND_PARAM)
            continue;
        if (e->trainable_extra && !m->cfg.train_extras)
            continue;
        float wd = (m->decay_all || !e->no_decay) ? (float)weight_decay : 0.0f;
        adamw_range(m, e->offset, e->numel, (float)lr, wd, m->step);
    }
    const float mom = (float)m->cfg.momentum, one_m = 1.0f - mom;
    float *t = m->target;
    const float *o = m->params;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->n_online; i++)
        t[i] = t[i] * mom + o[i] * one_m;
}
