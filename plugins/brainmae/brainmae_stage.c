/* plugins/brainmae/brainmae_stage.c - `brainmae` stage: a subject's T x R ROI
 * time series through a pretrained BrainMAE (weights=PATH): per-subject and
 * per-window embeddings, masked reconstruction, and the interpretation
 * exports (learned adjacency alpha, ROI embeddings, attention over windows).  Windows are window_s
 * seconds at the run's TR; NaN / constant / low-coverage ROIs are masked out
 * (docs/brainmae.md).  Pretraining is group level: bs_brainmae_pretrain(). */
#include "brainstage/brainmae.h"
#include "brainstage/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *weights;
    double window_s;
    double mask_ratio;
    int64_t seed;
    double min_coverage;
} config;

typedef struct stage {
    config cfg;
    bs_brainmae *model;
    uint64_t seed;
} stage;

static const bs_param_desc params[] = {
    {"weights", BS_PARAM_PATH, NULL, 1, 0, NULL,
     "BrainMAE checkpoint (.safetensors) from bs_brainmae_pretrain", offsetof(config, weights)},
    {"window_s", BS_PARAM_DOUBLE, "15", 0.001, 3600, NULL,
     "window (segment) length in seconds; must give the model's samples per window at this TR",
     offsetof(config, window_s)},
    {"mask_ratio", BS_PARAM_DOUBLE, "0.7", 0, 0.99, NULL,
     "fraction of valid ROIs hidden per window for the reconstruction output",
     offsetof(config, mask_ratio)},
    {"seed", BS_PARAM_INT, "0", 0, 9.2e18, NULL, "mask seed (0 = the run seed)",
     offsetof(config, seed)},
    {"min_coverage", BS_PARAM_DOUBLE, "0.5", 0, 1, NULL,
     "ROIs with atlas coverage below this are masked out like NaN ROIs",
     offsetof(config, min_coverage)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_TIMESERIES, 0, "T x R ROI time series (TR set)"}};
static const bs_port_desc outputs[] = {
    {"embedding", BS_PORT_EMBEDDING, 0, "1 x d subject embedding (mean of window-sample CLS)"},
    {"windows", BS_PORT_EMBEDDING, 0, "W x d embedding per window (temporal-encoder output)"},
    {"reconstruction", BS_PORT_TIMESERIES, 0, "T' x R reconstruction (z-scored units) with ROI masking"},
    {"adjacency", BS_PORT_MATRIX, 0, "R x R learned adjacency alpha of the first encoder block"},
    {"roi_embedding", BS_PORT_EMBEDDING, 0, "R x d learned ROI embeddings E"},
    {"window_attention", BS_PORT_EMBEDDING, 0,
     "W x 1 attention of each sample's CLS token to its windows (last temporal block, head mean)"},
};
enum { N_OUT = BS_COUNT_OF(outputs) };

static void *create(const void *cfgp, const bs_host *host, bs_error *err)
{
    const config *c = cfgp;
    stage *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
        return NULL;
    }
    s->cfg = *c;
    s->seed = c->seed ? (uint64_t)c->seed : host->seed;
    s->model = bs_brainmae_load(c->weights, err);
    if (!s->model) {
        free(s);
        return NULL;
    }
    return s;
}

static void destroy(void *self)
{
    stage *s = self;
    if (!s) return;
    bs_brainmae_free(s->model);
    free(s);
}

/* New output holding t; TR and attributes from src, ROI labels only when the
 * columns are ROIs. */
static bs_data *make_output(bs_port_kind kind, bs_tensor *t, const bs_data *src, int roi_columns,
                            bs_error *err)
{
    bs_data *d = bs_data_new(kind, t, err);
    if (!d) return NULL;
    int rc = BS_OK;
    if (roi_columns) {
        rc = bs_data_copy_meta(d, src, err);
    } else {
        d->tr = src->tr;
        for (int i = 0; rc == BS_OK && i < src->n_attrs; i++)
            rc = bs_data_set_attr(d, src->attr_keys[i], src->attr_values[i], err);
    }
    if (rc) {
        bs_data_free(d);
        return NULL;
    }
    return d;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    stage *s = self;
    const bs_data *d = in[0];
    if (!d->tensor || d->tensor->ndim != 2)
        return bs_error_set(err, BS_ERR_DATA, "brainmae: input must be a T x R time series");
    bs_brainmae_config cfg = *bs_brainmae_get_config(s->model);
    const int64_t T = d->tensor->shape[0];
    const int R = (int)d->tensor->shape[1], dm = cfg.d_model;
    /* the window length in seconds must map to the model's samples per window */
    cfg.window_s = (float)s->cfg.window_s;
    float *ts = malloc(sizeof(float) * (size_t)(T * R));
    if (!ts) return bs_error_set(err, BS_ERR_NOMEM, "brainmae: out of memory");
    memcpy(ts, d->tensor->data, sizeof(float) * (size_t)(T * R));
    if (d->coverage && d->n_labels == R)
        for (int r = 0; r < R; r++)
            if (d->coverage[r] < s->cfg.min_coverage) {
                for (int64_t t = 0; t < T; t++) ts[t * R + r] = NAN;
            }
    const char *ent = bs_data_get_attr(d, "entities");
    bs_brainmae_subject sub = {ts, T, R, d->tr, ent ? ent : "brainmae input"};
    bs_brainmae_prepared prep;
    int rc = bs_brainmae_prepare(&cfg, &sub, &prep, err);
    free(ts);
    if (rc) return rc;
    if (prep.n_valid < R)
        bs_log(BS_LOG_WARN, "brainmae: %d of %d ROIs masked out (NaN, constant or coverage < %g)",
               R - prep.n_valid, R, s->cfg.min_coverage);
    bs_brainmae_inference inf;
    rc = bs_brainmae_infer(s->model, &prep, s->cfg.mask_ratio, s->seed, &inf, err);
    bs_brainmae_prepared_free(&prep);
    if (rc) return rc;

    const int W = inf.n_samples * inf.n_segments, tau = inf.seg_len;
    /* one tensor per output port, in port order */
    const int64_t shape[N_OUT][2] = {{1, dm}, {W, dm}, {(int64_t)W * tau, R}, {R, R}, {R, dm},
                                     {W, 1}};
    bs_tensor *t[N_OUT] = {NULL};
    rc = BS_OK;
    for (int i = 0; rc == BS_OK && i < N_OUT; i++)
        if (!(t[i] = bs_tensor_new_2d(shape[i][0], shape[i][1], err))) rc = err->code;
    if (rc == BS_OK) {
        memcpy(t[0]->data, inf.subject_embed, sizeof(float) * (size_t)dm);
        memcpy(t[1]->data, inf.seg_embed, sizeof(float) * (size_t)W * dm);
        for (int w = 0; w < W; w++)
            for (int r = 0; r < R; r++)
                for (int j = 0; j < tau; j++)
                    t[2]->data[((int64_t)w * tau + j) * R + r] =
                        inf.recon[((size_t)w * R + r) * tau + j];
        rc = bs_brainmae_adjacency(s->model, 0, t[3]->data, err);
        bs_brainmae_roi_embeddings(s->model, t[4]->data);
        memcpy(t[5]->data, inf.seg_attention, sizeof(float) * (size_t)W);
    }
    char mse[64];
    snprintf(mse, sizeof mse, "%.6g", inf.masked_mse);
    bs_brainmae_inference_free(&inf);
    if (rc) {
        for (int i = 0; i < N_OUT; i++) bs_tensor_free(t[i]);
        return rc;
    }
    static const struct {
        bs_port_kind kind;
        int roi_columns;
    } port[N_OUT] = {{BS_PORT_EMBEDDING, 0}, {BS_PORT_EMBEDDING, 0}, {BS_PORT_TIMESERIES, 1},
                     {BS_PORT_MATRIX, 1},    {BS_PORT_EMBEDDING, 0}, {BS_PORT_EMBEDDING, 0}};
    for (int i = 0; i < N_OUT; i++)
        out[i] = make_output(port[i].kind, t[i], d, port[i].roi_columns, err);
    for (int i = 0; i < N_OUT; i++)
        if (!out[i]) {
            for (int j = 0; j < N_OUT; j++) {
                bs_data_free(out[j]);
                out[j] = NULL;
            }
            return err->code;
        }
    if (bs_data_set_attr(out[2], "masked_mse", mse, err)) return err->code;
    char ws[32];
    snprintf(ws, sizeof ws, "%g", s->cfg.window_s);
    if (bs_data_set_attr(out[5], "window_s", ws, err)) return err->code;
    return bs_data_set_attr(out[1], "window_s", ws, err);
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "brainmae",
    .version = "1.0",
    .summary = "BrainMAE (region-aware masked autoencoder): embeddings, reconstruction, ROI graph",
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
