/* core/brainmass/bm_optim.c - one optimizer update of BrainMass on the shared
 * nn core: gradient value clipping, AdamW (PyTorch's formula; decay on every
 * tensor like the reference unless decay_all is off), and the EMA move of
 * the target network towards the online network. */
#include "brainstage/nn.h"
#include "bm_internal.h"

void bs_brainmass_apply_update(bs_brainmass *m, double lr, double weight_decay, double clip)
{
    /* the reference clamps the gradient of every parameter that has one,
     * including the extras it does not optimise */
    if (clip > 0.0)
        nn_clip_grad_value(m->grads, m->n_params, (float)clip);
    m->step++;
    const nn_adamw_cfg adam = nn_adamw_defaults();
    for (int i = 0; i < m->n_entries; i++) {
        const bm_entry *e = &m->entries[i];
        if (e->kind != BM_KIND_PARAM)
            continue;
        if (e->trainable_extra && !m->cfg.train_extras)
            continue;
        float wd = (m->decay_all || !e->no_decay) ? (float)weight_decay : 0.0f;
        nn_adamw_update(m->params + e->offset, m->grads + e->offset, m->adam_m + e->offset,
                        m->adam_v + e->offset, e->numel, (float)lr, &adam, wd, m->step);
    }
    nn_ema_update(m->target, m->params, m->n_online, (float)m->cfg.momentum);
}
