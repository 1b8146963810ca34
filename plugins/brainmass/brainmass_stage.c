/* plugins/brainmass/brainmass_stage.c - `brainmass` stage: FC matrices
 * (one R x R matrix, or a batch N x R x R such as pFC views) through a
 * pretrained BrainMass encoder (weights=PATH) in eval mode, giving the
 * N x 8R subject embedding the reference uses downstream (docs/brainmass.md).
 * Pretraining is group level: bs_brainmass_pretrain(). */
#include "brainstage/brainmass.h"
#include "brainstage/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *weights;
} config;

typedef struct stage {
    bs_brainmass *model;
    char *weights;
} stage;

static const bs_param_desc params[] = {
    {"weights", BS_PARAM_PATH, NULL, 1, 0, NULL,
     "BrainMass checkpoint (.safetensors from bs_brainmass_pretrain or tools/pth2safetensors.py)",
     offsetof(config, weights)},
};
static const bs_port_desc inputs[] = {
    {"input", BS_PORT_ANY, 0, "R x R FC matrix or N x R x R matrix batch (finite values)"}};
static const bs_port_desc outputs[] = {
    {"embedding", BS_PORT_EMBEDDING, 0, "N x 8R embedding (per-ROI readout of the encoder, flattened)"}};

static void *create(const void *cfgp, const bs_host *host, bs_error *err)
{
    const config *c = cfgp;
    (void)host;
    stage *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory");
        return NULL;
    }
    s->model = bs_brainmass_load(c->weights, BS_BRAINMASS_LOAD_INFERENCE, err);
    s->weights = strdup(c->weights);
    if (!s->model || !s->weights) {
        bs_brainmass_free(s->model);
        free(s->weights);
        free(s);
        return NULL;
    }
    return s;
}

static void destroy(void *self)
{
    stage *s = self;
    if (!s)
        return;
    bs_brainmass_free(s->model);
    free(s->weights);
    free(s);
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    stage *s = self;
    const bs_data *d = in[0];
    const int R = bs_brainmass_get_config(s->model)->rois;
    const bs_tensor *t = d->tensor;
    int64_t n;
    if (t && (d->kind == BS_PORT_MATRIX || d->kind == BS_PORT_ANY) && t->ndim == 2)
        n = 1;
    else if (t && t->ndim == 3)
        n = t->shape[0];
    else
        return bs_error_set(err, BS_ERR_DATA,
                            "brainmass: input must be an R x R matrix or an N x R x R matrix batch (got %s, %d dims)",
                            bs_port_kind_name(d->kind), t ? t->ndim : 0);
    int64_t r0 = t->shape[t->ndim - 2], r1 = t->shape[t->ndim - 1];
    if (r0 != r1 || r0 != R)
        return bs_error_set(err, BS_ERR_DATA,
                            "brainmass: input matrices are %lld x %lld but checkpoint %s was trained on %d ROIs",
                            (long long)r0, (long long)r1, s->weights, R);
    if (d->n_labels > 0 && d->n_labels != R)
        return bs_error_set(err, BS_ERR_DATA, "brainmass: input has %d ROI labels, checkpoint expects %d",
                            d->n_labels, R);
    const int E = bs_brainmass_embed_dim(s->model);
    bs_tensor *emb = bs_tensor_new_2d(n, E, err);
    if (!emb)
        return err->code;
    int rc = bs_brainmass_embed(s->model, t->data, n, emb->data, err);
    if (rc) {
        bs_tensor_free(emb);
        return bs_error_prefix(err, "%s", "brainmass stage");
    }
    bs_data *o = bs_data_new(BS_PORT_EMBEDDING, emb, err);
    if (!o)
        return err->code;
    o->tr = d->tr;
    for (int i = 0; rc == BS_OK && i < d->n_attrs; i++)
        rc = bs_data_set_attr(o, d->attr_keys[i], d->attr_values[i], err);
    if (!rc)
        rc = bs_data_set_attr(o, "model", "brainmass", err);
    if (!rc)
        rc = bs_data_set_attr(o, "weights", s->weights, err);
    if (rc) {
        bs_data_free(o);
        return rc;
    }
    out[0] = o;
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "brainmass",
    .version = "1.0",
    .summary = "BrainMass encoder: FC matrix (batch) -> N x 8R embedding (eval mode)",
    .inputs = inputs, .n_inputs = BS_COUNT_OF(inputs),
    .outputs = outputs, .n_outputs = BS_COUNT_OF(outputs),
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .destroy = destroy,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
