/* eval_finetune.c - fine-tuned BrainMass as a bs_evaluate learner: one
 * model per split, created from the pretrained encoder and trained on the
 * split's training subjects only. */
#include "brainstage/brainmass_finetune.h"
#include "brainstage/eval.h"

#include <stdio.h>

static void *ft_fit(void *user, const int64_t *rows, int64_t n, const int32_t *y, int n_classes,
                    const char *const *class_names, uint64_t seed, bs_error *err)
{
    bs_finetune_learner *fl = user;
    bs_finetune_config cfg = fl->cfg;
    cfg.seed = seed;
    bs_finetune *ft = bs_finetune_new(fl->pretrained, &fl->arch, n_classes, class_names, &cfg, err);
    if (!ft)
        return NULL;
    bs_finetune_report rep;
    if (bs_finetune_fit(ft, fl->data, rows, n, y, &rep, err)) {
        bs_finetune_free(ft);
        return NULL;
    }
    fl->epochs_total += rep.epochs_run;
    return ft;
}

static int ft_scores(void *user, void *model, const int64_t *rows, int64_t n, double *scores, bs_error *err)
{
    bs_finetune_learner *fl = user;
    return bs_finetune_predict(model, fl->data, rows, n, scores, err);
}

static void ft_release(void *user, void *model)
{
    (void)user;
    bs_finetune_free(model);
}

void bs_finetune_learner_init(bs_finetune_learner *fl, bs_eval_learner *out)
{
    const bs_finetune_config *c = &fl->cfg;
    double enc_drop = c->encoder_dropout >= 0 ? c->encoder_dropout
                      : fl->pretrained        ? bs_brainmass_get_config(fl->pretrained)->dropout
                                              : fl->arch.dropout;
    snprintf(fl->params_json, sizeof fl->params_json,
             "{\"pretrained\": %s, \"hidden\": [%d, %d], \"head_dropout\": %.9g, \"encoder_dropout\": %.9g, "
             "\"freeze_encoder\": %s, \"lr\": %.9g, \"encoder_lr\": %.9g, \"weight_decay\": %.9g, \"epochs\": %d, "
             "\"batch\": %d, \"patience\": %d, \"val_fraction\": %.9g, \"augment\": \"%s\", \"pfc_keep\": %.9g}",
             fl->pretrained ? "true" : "false", c->hidden1, c->hidden2, c->head_dropout, enc_drop,
             c->freeze_encoder ? "true" : "false", c->lr, c->encoder_lr >= 0 ? c->encoder_lr : c->lr / 10,
             c->weight_decay, c->epochs, c->batch, c->patience, c->val_fraction,
             c->augment == BS_FINETUNE_AUGMENT_PFC ? "pfc" : "none", c->pfc_keep);
    out->name = "finetune";
    out->params_json = fl->params_json;
    out->user = fl;
    out->fit = ft_fit;
    out->scores = ft_scores;
    out->release = ft_release;
}
