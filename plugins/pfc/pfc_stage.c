/* pfc_stage.c - `pfc` stage: T x R time series -> N x R x R batch of
 * pseudo-functional-connectivity matrices (core: brainstage/pfc.h).
 *
 * In memory by default; with out=PATH the batch is streamed into a
 * safetensors file chunk by chunk (so millions of networks never sit in
 * RAM) and the output port carries an empty 0 x R x R batch whose attribute
 * "pfc_file" names the file. */
#include "brainstage/pfc.h"
#include "brainstage/plugin.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    int64_t n;
    double keep, keep_min, keep_max;
    const char *mode;
    int fisher;
    int64_t seed;
    const char *out;
    const char *constant;
    int64_t chunk;
} config;

static const bs_param_desc params[] = {
    {"n", BS_PARAM_INT, "100", 1, 1e12, NULL, "number of pFC matrices", offsetof(config, n)},
    {"keep", BS_PARAM_DOUBLE, "0.8", 0.001, 1, NULL, "fraction of time points kept per sample",
     offsetof(config, keep)},
    {"keep_min", BS_PARAM_DOUBLE, "0", 0, 1, NULL,
     "with keep_max: draw the kept fraction uniformly in [keep_min, keep_max] (0 = use keep)",
     offsetof(config, keep_min)},
    {"keep_max", BS_PARAM_DOUBLE, "0", 0, 1, NULL, "upper end of the kept-fraction range (0 = use keep)",
     offsetof(config, keep_max)},
    {"mode", BS_PARAM_ENUM, "individual", 1, 0, "individual|block",
     "individual: random time points; block: one contiguous kept block", offsetof(config, mode)},
    {"fisher", BS_PARAM_BOOL, "no", 1, 0, NULL, "Fisher z (atanh) off the diagonal; diagonal 0",
     offsetof(config, fisher)},
    {"seed", BS_PARAM_INT, "-1", -1, 1e18, NULL, "sample i uses RNG stream i of this seed (-1 = run seed)",
     offsetof(config, seed)},
    {"out", BS_PARAM_STRING, "", 1, 0, NULL, "stream the batch into this safetensors file instead of memory",
     offsetof(config, out)},
    {"constant", BS_PARAM_ENUM, "error", 1, 0, "error|zero",
     "a ROI constant over the whole series: refuse, or give it a zero row and column", offsetof(config, constant)},
    {"chunk", BS_PARAM_INT, "0", 0, 1e9, NULL, "samples computed per step when streaming (0 = ~64 MiB)",
     offsetof(config, chunk)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_TIMESERIES, 0, "T x R ROI time series"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_MATRIX_BATCH, 0, "N x R x R pFC matrices"}};

typedef struct stage {
    config cfg;
    bs_pfc_options opt;
} stage;

static void *create(const void *cfgp, const bs_host *host, bs_error *err)
{
    const config *c = cfgp;
    stage *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "pfc: out of memory");
        return NULL;
    }
    s->cfg = *c;
    bs_pfc_options_default(&s->opt);
    if ((c->keep_min > 0) != (c->keep_max > 0)) {
        bs_error_set(err, BS_ERR_USAGE, "pfc: keep_min and keep_max must be given together (got %g and %g)",
                     c->keep_min, c->keep_max);
        free(s);
        return NULL;
    }
    s->opt.keep_min = c->keep_min > 0 ? c->keep_min : c->keep;
    s->opt.keep_max = c->keep_max > 0 ? c->keep_max : c->keep;
    if (s->opt.keep_min > s->opt.keep_max) {
        bs_error_set(err, BS_ERR_USAGE, "pfc: keep_min=%g is larger than keep_max=%g", c->keep_min, c->keep_max);
        free(s);
        return NULL;
    }
    s->opt.mode = strcmp(c->mode, "block") == 0 ? BS_PFC_BLOCK : BS_PFC_INDIVIDUAL;
    s->opt.fisher = c->fisher;
    s->opt.constant_roi = strcmp(c->constant, "zero") == 0 ? BS_PFC_CONSTANT_ZERO : BS_PFC_CONSTANT_ERROR;
    s->opt.seed = c->seed >= 0 ? (uint64_t)c->seed : (host ? host->seed : 0);
    s->opt.threads = host && host->threads > 0 ? host->threads : 0;
    return s;
}

static int negotiate(void *self, const bs_data_info *in, bs_data_info *out, bs_error *err)
{
    const stage *s = self;
    (void)err;
    int64_t R = in[0].ndim == 2 ? in[0].shape[1] : -1;
    out[0].kind = BS_PORT_MATRIX_BATCH;
    out[0].ndim = 3;
    out[0].shape[0] = (s->cfg.out && *s->cfg.out) ? 0 : s->cfg.n;
    out[0].shape[1] = out[0].shape[2] = R;
    return BS_OK;
}

/* Names the ROI by label in the constant-column error (the core knows only indices). */
static int check_constant_rois(const stage *s, const bs_data *d, const char *name, bs_error *err)
{
    if (s->opt.constant_roi != BS_PFC_CONSTANT_ERROR || !d->labels)
        return BS_OK;
    int64_t T = d->tensor->shape[0], R = d->tensor->shape[1];
    const float *x = d->tensor->data;
    for (int64_t j = 0; j < R && j < d->n_labels; j++) {
        int64_t t = 1;
        while (t < T && x[t * R + j] == x[j])
            t++;
        if (t == T)
            return bs_error_set(err, BS_ERR_NUMERIC,
                                "%s: ROI '%s' (column %lld) is constant over all %lld time points, so its "
                                "correlations are undefined (constant=zero gives it a zero row and column)",
                                name, d->labels[j], (long long)j, (long long)T);
    }
    return BS_OK;
}

static char *labels_json(const bs_data *d)
{
    json_t *a = json_array();
    for (int i = 0; a && i < d->n_labels; i++)
        json_array_append_new(a, json_string(d->labels[i]));
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    const stage *s = self;
    const bs_data *d = in[0];
    if (!d->tensor || d->tensor->ndim != 2)
        return bs_error_set(err, BS_ERR_DATA, "pfc: input must be a T x R time series");
    const char *name = bs_data_get_attr(d, "entities");
    if (!name)
        name = "pfc input";
    int rc = check_constant_rois(s, d, name, err);
    if (rc)
        return rc;
    int64_t T = d->tensor->shape[0], R = d->tensor->shape[1];
    bs_pfc_generator *g = bs_pfc_generator_new(d->tensor->data, T, R, &s->opt, name, err);
    if (!g)
        return err->code;
    if (bs_pfc_generator_constant_rois(g) > 0)
        bs_log(BS_LOG_WARN, "%s: %lld constant ROI(s) get zero rows and columns in every pFC", name,
               (long long)bs_pfc_generator_constant_rois(g));
    char desc[256];
    snprintf(desc, sizeof desc, "n=%lld keep=%g..%g mode=%s fisher=%s seed=%llu", (long long)s->cfg.n,
             s->opt.keep_min, s->opt.keep_max, s->cfg.mode, s->opt.fisher ? "yes" : "no",
             (unsigned long long)s->opt.seed);
    const int streaming = s->cfg.out && *s->cfg.out;
    bs_tensor *t = NULL;
    if (streaming) {
        char *rois = labels_json(d);
        const char *keys[] = {"pfc", "entities", "rois"};
        const char *vals[] = {desc, name, rois ? rois : "[]"};
        rc = bs_pfc_write_safetensors(g, s->cfg.n, s->cfg.chunk, s->cfg.out, 3, keys, vals, err);
        free(rois);
        t = rc ? NULL : bs_tensor_new_3d(0, R, R, err);
    } else {
        t = bs_tensor_new_3d(s->cfg.n, R, R, err);
        if (t && bs_pfc_next_batch(g, s->cfg.n, t->data, err) != BS_OK) {
            bs_tensor_free(t);
            t = NULL;
        }
    }
    bs_pfc_generator_free(g);
    if (!t)
        return err->code ? err->code : BS_ERR_INTERNAL;
    bs_data *res = bs_data_new(BS_PORT_MATRIX_BATCH, t, err);
    if (!res || bs_data_copy_meta(res, d, err) || bs_data_set_attr(res, "pfc", desc, err) ||
        (streaming && bs_data_set_attr(res, "pfc_file", s->cfg.out, err))) {
        bs_data_free(res);
        return err->code;
    }
    out[0] = res;
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "pfc",
    .version = "1.0",
    .summary = "pseudo-functional connectivity: N correlation matrices from random time-point subsets",
    .inputs = inputs, .n_inputs = BS_COUNT_OF(inputs),
    .outputs = outputs, .n_outputs = BS_COUNT_OF(outputs),
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .negotiate = negotiate, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
