/* plugins/brainmass/brainmass_stage.c - `brainmass` stage: FC matrices
 * (one R x R matrix, or a batch N x R x R such as pFC views) through a
 * pretrained BrainMass encoder (weights=PATH) in eval mode.  Outputs
 * (docs/brainmass.md):
 *   embedding  N x 8R    the per-ROI readout flattened (what the reference
 *                        feeds its downstream SVM)
 *   tokens     N x R x R final encoder tokens (row i = ROI i), for
 *                        interpretation
 *   attention  (N*L*H) x R x R attention weights of every layer and head,
 *                        or (N*L) x R x R head means (attention=heads|mean);
 *                        an empty 0 x R x R batch when attention=none
 * Pretraining is group level: bs_brainmass_pretrain(). */
#include "brainstage/brainmass.h"
#include "brainstage/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *weights;
    const char *attention;
} config;

typedef struct stage {
    bs_brainmass *model;
    char *weights;
    int attention; /* 0 none, 1 per head, 2 head means */
} stage;

static const bs_param_desc params[] = {
    {"weights", BS_PARAM_PATH, NULL, 1, 0, NULL,
     "BrainMass checkpoint (.safetensors from bs_brainmass_pretrain or tools/pth2safetensors.py)",
     offsetof(config, weights)},
    {"attention", BS_PARAM_ENUM, "none", 1, 0, "none|heads|mean",
     "attention output: none (empty), every layer and head, or the mean over heads",
     offsetof(config, attention)},
};
static const bs_port_desc inputs[] = {
    {"input", BS_PORT_ANY, 0, "R x R FC matrix or N x R x R matrix batch (finite values)"}};
static const bs_port_desc outputs[] = {
    {"embedding", BS_PORT_EMBEDDING, 0, "N x 8R embedding (per-ROI readout of the encoder, flattened)"},
    {"tokens", BS_PORT_MATRIX_BATCH, 0, "N x R x R final encoder tokens (row = ROI)"},
    {"attention", BS_PORT_MATRIX_BATCH, 0,
     "(N*layers*heads) x R x R attention weights (attention=heads), (N*layers) x R x R head means "
     "(attention=mean), or 0 x R x R (attention=none)"},
};

static void *create(const void *cfgp, const bs_host *host, bs_error *err)
{
    const config *c = cfgp;
    (void)host;
    stage *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory");
        return NULL;
    }
    s->attention = !strcmp(c->attention, "heads") ? 1 : !strcmp(c->attention, "mean") ? 2 : 0;
    s->model = bs_brainmass_load(c->weights, BS_BRAINMASS_LOAD_INFERENCE, err);
    s->weights = strdup(c->weights);
    if (!s->model || !s->weights) {
        if (s->model && !s->weights)
            bs_error_set(err, BS_ERR_NOMEM, "brainmass: out of memory");
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

/* One output: kind, tensor (owned), the input's TR/labels where they fit,
 * and attributes naming the model and the layout. */
static bs_data *make_output(const stage *s, const bs_data *in, bs_port_kind kind, bs_tensor *t,
                            const char *layout, const char *shape, bs_error *err)
{
    bs_data *o = t ? bs_data_new(kind, t, err) : NULL;
    if (!o)
        return NULL;
    int rc = BS_OK;
    o->tr = in->tr;
    for (int i = 0; rc == BS_OK && i < in->n_attrs; i++)
        rc = bs_data_set_attr(o, in->attr_keys[i], in->attr_values[i], err);
    /* ROI names label the columns of tokens and attention maps (R each) */
    if (!rc && kind == BS_PORT_MATRIX_BATCH && in->n_labels > 0)
        rc = bs_data_set_labels(o, in->n_labels, (const char *const *)in->labels, err);
    if (!rc)
        rc = bs_data_set_attr(o, "model", "brainmass", err);
    if (!rc)
        rc = bs_data_set_attr(o, "weights", s->weights, err);
    if (!rc && layout)
        rc = bs_data_set_attr(o, "layout", layout, err);
    if (!rc && shape)
        rc = bs_data_set_attr(o, "shape", shape, err);
    if (rc) {
        bs_data_free(o);
        return NULL;
    }
    return o;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    stage *s = self;
    const bs_data *d = in[0];
    const bs_brainmass_config *cfg = bs_brainmass_get_config(s->model);
    const int R = cfg->rois, L = cfg->depth, H = cfg->heads;
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
    const int64_t per = s->attention == 1 ? (int64_t)L * H : s->attention == 2 ? L : 0;
    bs_tensor *emb = bs_tensor_new_2d(n, bs_brainmass_embed_dim(s->model), err);
    bs_tensor *tok = emb ? bs_tensor_new_3d(n, R, R, err) : NULL;
    bs_tensor *att = tok ? bs_tensor_new_3d(n * per, R, R, err) : NULL;
    if (!att) {
        bs_tensor_free(emb);
        bs_tensor_free(tok);
        return err->code;
    }
    bs_brainmass_outputs want = {emb->data, tok->data, per ? att->data : NULL, s->attention == 2};
    int rc = bs_brainmass_infer(s->model, t->data, n, &want, err);
    if (rc) {
        bs_tensor_free(emb);
        bs_tensor_free(tok);
        bs_tensor_free(att);
        return bs_error_prefix(err, "%s", "brainmass stage");
    }
    char shape[96];
    if (s->attention == 1)
        snprintf(shape, sizeof shape, "%lld,%d,%d,%d,%d", (long long)n, L, H, R, R);
    else
        snprintf(shape, sizeof shape, "%lld,%d,%d,%d", (long long)n, L, R, R);
    out[0] = make_output(s, d, BS_PORT_EMBEDDING, emb, "sample,roi*reduce_dim", NULL, err);
    out[1] = out[0] ? make_output(s, d, BS_PORT_MATRIX_BATCH, tok, "sample,roi,feature", NULL, err) : NULL;
    out[2] = out[1] ? make_output(s, d, BS_PORT_MATRIX_BATCH, att,
                                  s->attention == 1 ? "sample,layer,head,query,key"
                                  : s->attention == 2 ? "sample,layer,query,key" : "none",
                                  per ? shape : NULL, err)
                    : NULL;
    if (!out[2]) {
        /* make_output took ownership of the tensors it was given */
        if (!out[0])
            bs_tensor_free(tok), bs_tensor_free(att);
        else if (!out[1])
            bs_tensor_free(att);
        for (int i = 0; i < 3; i++) {
            bs_data_free(out[i]);
            out[i] = NULL;
        }
        return err->code;
    }
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "brainmass",
    .version = "1.1",
    .summary = "BrainMass encoder: FC matrix (batch) -> N x 8R embedding, tokens, attention (eval mode)",
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
