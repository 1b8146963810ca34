/* core/brainmass/bm_finetune.c - the fine-tuned BrainMass model: creation
 * from a pretrained (or random) encoder, one training step (encoder on
 * BrainMass's kernels, readout + head on the nn core), AdamW with separate
 * encoder/head rates, eval-mode prediction and named tensor access. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/rng.h"
#include "brainstage/tensor.h"
#include "bm_finetune_internal.h"

void bs_finetune_config_default(bs_finetune_config *c)
{
    memset(c, 0, sizeof *c);
    c->hidden1 = 256;
    c->hidden2 = 32;
    c->head_dropout = 0.3;
    c->encoder_dropout = -1.0;
    c->lr = 1e-3;
    c->encoder_lr = -1.0;
    c->weight_decay = 0.01;
    c->epochs = 30;
    c->batch = 16;
    c->patience = 0;
    c->val_fraction = 0.2;
    c->augment = BS_FINETUNE_AUGMENT_PFC;
    c->pfc_keep = 0.8;
    c->leaky_slope = 0.01;
    c->bn_eps = 1e-5;
    c->bn_momentum = 0.1;
    c->seed = 42;
}

int bs_finetune_config_validate(const bs_finetune_config *c, bs_error *err)
{
    if (c->hidden1 < 1 || c->hidden2 < 1 || c->hidden1 > (1 << 20) || c->hidden2 > (1 << 20))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: hidden sizes %d, %d: expected positive sizes", c->hidden1,
                            c->hidden2);
    if (!(c->head_dropout >= 0 && c->head_dropout < 1))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: head dropout %g: expected [0, 1)", c->head_dropout);
    if (!(c->encoder_dropout < 1))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: encoder dropout %g: expected [0, 1) (or < 0: the checkpoint's)",
                            c->encoder_dropout);
    if (!(c->lr > 0 && c->lr < 10) || !(c->encoder_lr < 10) || !(c->weight_decay >= 0 && c->weight_decay < 10))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: lr %g, encoder lr %g, weight decay %g: out of range", c->lr,
                            c->encoder_lr, c->weight_decay);
    if (c->epochs < 1 || c->batch < 2)
        return bs_error_set(err, BS_ERR_USAGE, "finetune: epochs %d, batch %d: expected >= 1 and >= 2 (BatchNorm)",
                            c->epochs, c->batch);
    if (c->patience < 0 || (c->patience > 0 && !(c->val_fraction > 0 && c->val_fraction < 1)))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: patience %d, validation fraction %g: expected patience >= 0 "
                            "and a fraction in (0, 1)", c->patience, c->val_fraction);
    if (c->augment == BS_FINETUNE_AUGMENT_PFC && !(c->pfc_keep > 0 && c->pfc_keep <= 1))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: pFC keep fraction %g: expected (0, 1]", c->pfc_keep);
    if (!(c->leaky_slope >= 0) || !(c->bn_eps > 0) || !(c->bn_momentum >= 0 && c->bn_momentum <= 1))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: leaky slope / BatchNorm eps / momentum out of range");
    return BS_OK;
}

static double encoder_rate(const bs_finetune_config *c)
{
    return c->encoder_lr >= 0 ? c->encoder_lr : c->lr / 10.0;
}

/* ---- construction ---- */

static int add_entry(bs_finetune *ft, const char *name, int ndim, const int64_t *shape, size_t offset, int in_enc,
                     int buffer, int enc_group, int64_t *count)
{
    bm_ft_entry *e = realloc(ft->entries, sizeof *e * (size_t)(ft->n_entries + 1));
    if (!e)
        return -1;
    ft->entries = e;
    e = &ft->entries[ft->n_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        e->numel *= (size_t)shape[i];
    }
    e->offset = offset;
    e->in_encoder = in_enc;
    e->is_buffer = buffer;
    e->is_count = count != NULL;
    e->encoder_group = enc_group;
    e->count = count;
    return 0;
}

/* Registers the readout + head tensors (PyTorch names) and fills L. */
static int build_head(bs_finetune *ft, bs_error *err)
{
    bm_ft_layout *L = &ft->L;
    nn_params *p = &ft->head;
    const int64_t E = (int64_t)L->K * L->R;
    struct spec {
        const char *name;
        int ndim;
        int64_t d0, d1;
        unsigned flags;
        size_t *off;
    } specs[] = {
        {"online_network.dim_reduction.0.weight", 2, L->K, L->R, 0, &L->red_w},
        {"online_network.dim_reduction.0.bias", 1, L->K, 0, 0, &L->red_b},
        {"classifier.net.0.weight", 2, L->H1, E, 0, &L->w0},
        {"classifier.net.0.bias", 1, L->H1, 0, 0, &L->b0},
        {"classifier.net.1.weight", 1, L->H1, 0, 0, &L->bn1_w},
        {"classifier.net.1.bias", 1, L->H1, 0, 0, &L->bn1_b},
        {"classifier.net.1.running_mean", 1, L->H1, 0, NN_PARAM_BUFFER, &L->rm1},
        {"classifier.net.1.running_var", 1, L->H1, 0, NN_PARAM_BUFFER, &L->rv1},
        {"classifier.net.4.weight", 2, L->H2, L->H1, 0, &L->w4},
        {"classifier.net.4.bias", 1, L->H2, 0, 0, &L->b4},
        {"classifier.net.5.weight", 1, L->H2, 0, 0, &L->bn5_w},
        {"classifier.net.5.bias", 1, L->H2, 0, 0, &L->bn5_b},
        {"classifier.net.5.running_mean", 1, L->H2, 0, NN_PARAM_BUFFER, &L->rm5},
        {"classifier.net.5.running_var", 1, L->H2, 0, NN_PARAM_BUFFER, &L->rv5},
        {"classifier.net.8.weight", 2, L->C, L->H2, 0, &L->w8},
        {"classifier.net.8.bias", 1, L->C, 0, 0, &L->b8},
    };
    const int ns = (int)(sizeof specs / sizeof specs[0]);
    nn_params_init(p);
    for (int i = 0; i < ns; i++) {
        int64_t shape[2] = {specs[i].d0, specs[i].d1};
        if (nn_params_add(p, specs[i].name, specs[i].ndim, shape, specs[i].flags, NULL, NULL, err))
            return err->code;
    }
    if (nn_params_alloc(p, err))
        return err->code;
    for (int i = 0; i < ns; i++) {
        const nn_param *it = &p->items[nn_params_find(p, specs[i].name)];
        *specs[i].off = it->offset;
        int readout = !strncmp(specs[i].name, "online_network.", 15);
        if (add_entry(ft, specs[i].name, it->ndim, it->shape, it->offset, 0, (specs[i].flags & NN_PARAM_BUFFER) != 0,
                      readout, NULL))
            return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
        if (!strcmp(specs[i].name, "classifier.net.1.running_var") ||
            !strcmp(specs[i].name, "classifier.net.5.running_var")) {
            char nm[NN_NAME_MAX];
            int first = specs[i].name[15] == '1';
            snprintf(nm, sizeof nm, "classifier.net.%c.num_batches_tracked", first ? '1' : '5');
            if (add_entry(ft, nm, 0, NULL, 0, 0, 1, 0, first ? &ft->count1 : &ft->count5))
                return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
        }
    }
    return BS_OK;
}

/* PyTorch defaults: Linear U(-1/sqrt(in), 1/sqrt(in)), BatchNorm weight 1,
 * bias 0, running mean 0 and var 1. */
static void init_head(bs_finetune *ft)
{
    const bm_ft_layout *L = &ft->L;
    float *P = ft->head.data;
    bs_rng *rng = bs_rng_derive(ft->cfg.seed, 0x66696e65ull);
    nn_init_linear(P + L->w0, P + L->b0, L->K * L->R, L->H1, rng);
    nn_init_linear(P + L->w4, P + L->b4, L->H1, L->H2, rng);
    nn_init_linear(P + L->w8, P + L->b8, L->H2, L->C, rng);
    bs_rng_free(rng);
    nn_init_fill(P + L->bn1_w, (size_t)L->H1, 1.0f);
    nn_init_fill(P + L->bn5_w, (size_t)L->H2, 1.0f);
    nn_init_fill(P + L->rv1, (size_t)L->H1, 1.0f);
    nn_init_fill(P + L->rv5, (size_t)L->H2, 1.0f);
}

bs_finetune *bs_finetune_new(const bs_brainmass *pretrained, const bs_brainmass_config *arch, int n_classes,
                             const char *const *class_names, const bs_finetune_config *cfg, bs_error *err)
{
    if (bs_finetune_config_validate(cfg, err))
        return NULL;
    if (n_classes < 2 || n_classes > 100000) {
        bs_error_set(err, BS_ERR_DATA, "finetune: %d classes: need at least 2", n_classes);
        return NULL;
    }
    if (!pretrained && !arch) {
        bs_error_set(err, BS_ERR_USAGE, "finetune: give a pretrained encoder or an architecture");
        return NULL;
    }
    bs_brainmass_config bc = pretrained ? pretrained->cfg : *arch;
    if (cfg->encoder_dropout >= 0)
        bc.dropout = cfg->encoder_dropout;
    bs_finetune *ft = calloc(1, sizeof *ft);
    if (!ft) {
        bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
        return NULL;
    }
    ft->cfg = *cfg;
    ft->n_classes = n_classes;
    nn_params_init(&ft->head);
    if (!(ft->enc = bs_brainmass_new(&bc, cfg->seed ^ 0x656e636f646572ull, err)))
        goto fail;
    /* The transformer layers are the first tensors of BrainMass's parameter
     * block; dim_reduction follows them. */
    ft->enc_n = ft->enc->red_w;
    const bs_brainmass *src = pretrained ? pretrained : ft->enc;
    if (pretrained)
        memcpy(ft->enc->params, pretrained->params, ft->enc_n * sizeof(float));
    for (int i = 0; i < ft->enc->n_entries; i++) {
        const bm_entry *e = &ft->enc->entries[i];
        if (e->kind == BM_KIND_PARAM && !strncmp(e->name, "online_network.attention_list.", 30) &&
            add_entry(ft, e->name, e->ndim, e->shape, e->offset, 1, 0, 1, NULL)) {
            bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
            goto fail;
        }
    }
    ft->L.R = bc.rois;
    ft->L.K = bc.reduce_dim;
    ft->L.H1 = cfg->hidden1;
    ft->L.H2 = cfg->hidden2;
    ft->L.C = n_classes;
    ft->L.leaky = (float)cfg->leaky_slope;
    ft->L.bn_eps = (float)cfg->bn_eps;
    ft->L.bn_momentum = (float)cfg->bn_momentum;
    ft->L.dropout = (float)cfg->head_dropout;
    if (build_head(ft, err))
        goto fail;
    init_head(ft);
    const size_t K = (size_t)bc.reduce_dim, R = (size_t)bc.rois;
    memcpy(ft->head.data + ft->L.red_w, src->params + src->red_w, K * R * sizeof(float));
    memcpy(ft->head.data + ft->L.red_b, src->params + src->red_b, K * sizeof(float));
    if (class_names) {
        ft->class_names = calloc((size_t)n_classes, sizeof(char *));
        for (int c = 0; ft->class_names && c < n_classes; c++)
            if (!(ft->class_names[c] = strdup(class_names[c] ? class_names[c] : "")))
                goto nomem;
        if (!ft->class_names)
            goto nomem;
    }
    return ft;
nomem:
    bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
fail:
    bs_finetune_free(ft);
    return NULL;
}

void bs_finetune_free(bs_finetune *ft)
{
    if (!ft)
        return;
    bs_brainmass_free(ft->enc);
    nn_params_free(&ft->head);
    if (ft->class_names)
        for (int c = 0; c < ft->n_classes; c++)
            free(ft->class_names[c]);
    free(ft->class_names);
    free(ft->entries);
    bs_free(ft->ws);
    bs_free(ft->logits);
    bs_free(ft->dlogits);
    bs_free(ft->probs);
    free(ft->masks);
    free(ft->targets);
    free(ft);
}

int bs_finetune_set_training(bs_finetune *ft, const bs_finetune_config *cfg, bs_error *err)
{
    bs_finetune_config c = *cfg;
    c.hidden1 = ft->cfg.hidden1;
    c.hidden2 = ft->cfg.hidden2;
    c.head_dropout = ft->cfg.head_dropout;
    c.leaky_slope = ft->cfg.leaky_slope;
    c.bn_eps = ft->cfg.bn_eps;
    c.bn_momentum = ft->cfg.bn_momentum;
    if (bs_finetune_config_validate(&c, err))
        return err ? err->code : BS_ERR_USAGE;
    if (c.encoder_dropout >= 0)
        ft->enc->cfg.dropout = c.encoder_dropout;
    ft->cfg = c;
    return BS_OK;
}

int bs_finetune_rois(const bs_finetune *ft) { return ft->L.R; }
int bs_finetune_n_classes(const bs_finetune *ft) { return ft->n_classes; }
const bs_finetune_config *bs_finetune_get_config(const bs_finetune *ft) { return &ft->cfg; }
int64_t bs_finetune_step_count(const bs_finetune *ft) { return ft->step; }

const char *bs_finetune_class_name(const bs_finetune *ft, int c)
{
    return ft->class_names && c >= 0 && c < ft->n_classes ? ft->class_names[c] : NULL;
}

/* ---- workspace ---- */

static int workspace(bs_finetune *ft, int B, bs_error *err)
{
    if (bm_workspace(ft->enc, B, err))
        return err ? err->code : BS_ERR_NOMEM;
    if (B <= ft->ws_batch)
        return BS_OK;
    bs_free(ft->ws);
    bs_free(ft->logits);
    bs_free(ft->dlogits);
    bs_free(ft->probs);
    free(ft->masks);
    free(ft->targets);
    const size_t bc = (size_t)B * ft->n_classes;
    ft->ws = bs_alloc_floats(bm_ft_ws_size(&ft->L, B));
    ft->logits = bs_alloc_floats(bc);
    ft->dlogits = bs_alloc_floats(bc);
    ft->probs = bs_alloc_floats(bc);
    ft->masks = malloc(bm_ft_mask_size(&ft->L, B));
    ft->targets = malloc(sizeof(int32_t) * (size_t)B);
    if (!ft->ws || !ft->logits || !ft->dlogits || !ft->probs || !ft->masks || !ft->targets) {
        ft->ws_batch = 0;
        return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory for a batch of %d", B);
    }
    ft->ws_batch = B;
    return BS_OK;
}

uint64_t bm_ft_encoder_key(const bs_finetune *ft)
{
    return bm_key(bm_key(ft->cfg.seed ^ 0x66742d656e63ull, (uint64_t)ft->step), 7);
}

uint64_t bm_ft_head_seed(const bs_finetune *ft)
{
    return nn_seed_mix(ft->cfg.seed ^ 0x66742d68656164ull, (uint64_t)ft->step, 0);
}

/* Encoder forward on fc [B,R,R] (dropout p): output in enc->cache[depth].x.
 * BrainMass's kernels read the dropout probability from the config, so it is
 * set for the duration of the pass (eval mode and a frozen encoder use 0). */
static const float *encoder_forward(bs_finetune *ft, const float *fc, int B, double p, uint64_t key)
{
    bs_brainmass *m = ft->enc;
    const int R = ft->L.R;
    double keep = m->cfg.dropout;
    m->cfg.dropout = p;
    memcpy(m->cache[0].x, fc, sizeof(float) * (size_t)B * R * R);
    bm_encoder_fwd(m, m->params, NULL, B, R, 1, key);
    m->cfg.dropout = keep;
    return m->cache[m->cfg.depth].x;
}

static int compute_grads(bs_finetune *ft, const float *fc, const int32_t *y, int B, int train, double *loss,
                         float *logits_out, bs_error *err)
{
    const int R = ft->L.R, C = ft->n_classes;
    if (B < 1 || (train && B < 2))
        return bs_error_set(err, BS_ERR_USAGE, "finetune: batch of %d: training needs at least 2 (BatchNorm)", B);
    if (bm_check_finite(fc, (size_t)B * R * R, "FC input", err))
        return err ? err->code : BS_ERR_NUMERIC;
    for (int b = 0; b < B; b++)
        if (y[b] < 0 || y[b] >= C)
            return bs_error_set(err, BS_ERR_DATA, "finetune: label %d of batch row %d: expected 0..%d", (int)y[b], b,
                                C - 1);
    int rc = workspace(ft, B, err);
    if (rc)
        return rc;
    const int frozen = ft->cfg.freeze_encoder;
    const double p_enc = train && !frozen ? ft->enc->cfg.dropout : 0.0;
    const uint64_t key = bm_ft_encoder_key(ft);
    const float *eout = encoder_forward(ft, fc, B, p_enc, key);
    bm_ft_head_forward(&ft->L, ft->head.data, eout, B, train, bm_ft_head_seed(ft), ft->ws, ft->masks, ft->logits);
    if (train) {
        ft->count1++;
        ft->count5++;
    }
    double l = nn_cross_entropy_forward(ft->probs, ft->logits, y, B, C);
    nn_params_zero_grad(&ft->head);
    memset(ft->enc->grads, 0, ft->enc_n * sizeof(float));
    memset(ft->dlogits, 0, sizeof(float) * (size_t)B * C);
    nn_cross_entropy_backward(ft->dlogits, ft->probs, y, B, C, 1.0);
    float *denc = frozen ? NULL : ft->enc->ws_tmp[3];
    bm_ft_head_backward(&ft->L, ft->head.data, ft->head.grad, eout, B, train, ft->dlogits, ft->ws, ft->masks, denc);
    if (!frozen) {
        /* the backward regenerates the forward's dropout masks from the key */
        double keep = ft->enc->cfg.dropout;
        ft->enc->cfg.dropout = p_enc;
        bm_encoder_bwd(ft->enc, ft->enc->params, ft->enc->grads, NULL, B, R, key);
        ft->enc->cfg.dropout = keep;
    }
    if (logits_out)
        memcpy(logits_out, ft->logits, sizeof(float) * (size_t)B * C);
    if (loss)
        *loss = l;
    if (!isfinite(l))
        return bs_error_set(err, BS_ERR_NUMERIC, "finetune: step %lld: loss is not finite (%g)", (long long)ft->step, l);
    return BS_OK;
}

int bs_finetune_compute_grads(bs_finetune *ft, const float *fc, const int32_t *y, int B, int train, double *loss,
                              float *logits, bs_error *err)
{
    int prev = bm_blas_single();
    int rc = compute_grads(ft, fc, y, B, train, loss, logits, err);
    bm_blas_restore(prev);
    return rc;
}

void bs_finetune_apply_update(bs_finetune *ft)
{
    const bs_finetune_config *c = &ft->cfg;
    nn_adamw_cfg ac = nn_adamw_defaults();
    ac.weight_decay = (float)c->weight_decay;
    const float lr = (float)c->lr, lr_enc = (float)encoder_rate(c), wd = (float)c->weight_decay;
    ft->step++;
    for (int i = 0; i < ft->head.count; i++) {
        const nn_param *it = &ft->head.items[i];
        if (it->flags & NN_PARAM_BUFFER)
            continue;
        int readout = !strncmp(it->name, "online_network.", 15);
        if (readout && c->freeze_encoder)
            continue;
        size_t o = it->offset;
        nn_adamw_update(ft->head.data + o, ft->head.grad + o, ft->head.adam_m + o, ft->head.adam_v + o, it->numel,
                        readout ? lr_enc : lr, &ac, wd, ft->step);
    }
    if (!c->freeze_encoder) {
        bs_brainmass *m = ft->enc;
        nn_adamw_update(m->params, m->grads, m->adam_m, m->adam_v, ft->enc_n, lr_enc, &ac, wd, ft->step);
    }
}

/* ---- prediction ---- */

#define PREDICT_CHUNK 32

static int predict_fc(bs_finetune *ft, const float *fc, int64_t n, double *probs, bs_error *err)
{
    const int R = ft->L.R, C = ft->n_classes;
    if (n <= 0)
        return BS_OK;
    if (bm_check_finite(fc, (size_t)n * R * R, "FC input", err))
        return err ? err->code : BS_ERR_NUMERIC;
    int chunk = n < PREDICT_CHUNK ? (int)n : PREDICT_CHUNK;
    int rc = workspace(ft, chunk, err);
    if (rc)
        return rc;
    for (int64_t s = 0; s < n; s += chunk) {
        int B = (int)(n - s < chunk ? n - s : chunk);
        const float *eout = encoder_forward(ft, fc + (size_t)s * R * R, B, 0.0, 0);
        bm_ft_head_forward(&ft->L, ft->head.data, eout, B, 0, 0, ft->ws, ft->masks, ft->logits);
        for (int b = 0; b < B; b++) {
            const float *lg = ft->logits + (size_t)b * C;
            double *pr = probs + (size_t)(s + b) * C, mx = lg[0], z = 0;
            for (int c = 1; c < C; c++)
                mx = fmax(mx, lg[c]);
            for (int c = 0; c < C; c++)
                z += pr[c] = exp(lg[c] - mx);
            for (int c = 0; c < C; c++)
                pr[c] /= z;
        }
    }
    for (int64_t i = 0; i < n * C; i++)
        if (!isfinite(probs[i]))
            return bs_error_set(err, BS_ERR_NUMERIC, "finetune: prediction of row %lld is not finite",
                                (long long)(i / C));
    return BS_OK;
}

int bs_finetune_predict_fc(bs_finetune *ft, const float *fc, int64_t n, double *probs, bs_error *err)
{
    int prev = bm_blas_single();
    int rc = predict_fc(ft, fc, n, probs, err);
    bm_blas_restore(prev);
    return rc;
}

/* ---- named tensors ---- */

int bs_finetune_tensor_count(const bs_finetune *ft) { return ft->n_entries; }

int bs_finetune_tensor_get(const bs_finetune *ft, int index, bs_finetune_tensor *out)
{
    if (index < 0 || index >= ft->n_entries)
        return -1;
    const bm_ft_entry *e = &ft->entries[index];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    if (e->is_count) {
        out->count = e->count;
    } else if (e->in_encoder) {
        out->data = ft->enc->params + e->offset;
        out->grad = ft->enc->grads + e->offset;
    } else {
        out->data = ft->head.data + e->offset;
        out->grad = e->is_buffer ? NULL : ft->head.grad + e->offset;
    }
    return 0;
}

int bs_finetune_tensor_find(const bs_finetune *ft, const char *name, bs_finetune_tensor *out)
{
    for (int i = 0; i < ft->n_entries; i++)
        if (!strcmp(ft->entries[i].name, name))
            return bs_finetune_tensor_get(ft, i, out);
    return -1;
}
