/* fc_stage.c - `fc` stage: T x R time series -> R x R connectivity matrix
 * (Pearson, partial or Ledoit-Wolf-shrunk correlation; core: bs_fc_compute).
 * ROIs that are NaN or constant give NaN rows/columns and a warning naming
 * the first of them (docs/fc.md). */
#include "brainstage/fc.h"
#include "brainstage/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *kind;
    int fisher;
    double ridge;
} config;

static const bs_param_desc params[] = {
    {"kind", BS_PARAM_ENUM, "pearson", 1, 0, "pearson|partial|ledoit_wolf",
     "ledoit_wolf = nilearn ConnectivityMeasure('correlation') default", offsetof(config, kind)},
    {"fisher", BS_PARAM_BOOL, "no", 1, 0, NULL, "Fisher z (atanh) off the diagonal; diagonal 0",
     offsetof(config, fisher)},
    {"ridge", BS_PARAM_DOUBLE, "0.01", 0, 1e6, NULL, "partial: added to the correlation diagonal before inversion",
     offsetof(config, ridge)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_TIMESERIES, 0, "T x R ROI time series"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_MATRIX, 0, "R x R connectivity"}};

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    (void)host;
    const config *c = cfg;
    bs_fc_options *o = calloc(1, sizeof *o);
    if (!o) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    bs_fc_options_init(o);
    if (bs_fc_kind_parse(c->kind, &o->kind, err)) {
        free(o);
        return NULL;
    }
    o->fisher_z = c->fisher;
    o->partial_ridge = c->ridge;
    return o;
}

static int negotiate(void *self, const bs_data_info *in, bs_data_info *out, bs_error *err)
{
    (void)self;
    (void)err;
    out[0].kind = BS_PORT_MATRIX;
    out[0].ndim = 2;
    out[0].shape[0] = out[0].shape[1] = in[0].ndim == 2 ? in[0].shape[1] : -1;
    return BS_OK;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    const bs_fc_options *o = self;
    const bs_data *d = in[0];
    if (!d->tensor || d->tensor->ndim != 2)
        return bs_error_set(err, BS_ERR_DATA, "fc: input must be a T x R time series");
    int64_t T = d->tensor->shape[0], R = d->tensor->shape[1];
    bs_tensor *m = bs_tensor_new_2d(R, R, err);
    if (!m)
        return err->code;
    bs_fc_info info;
    int rc = bs_fc_compute(d->tensor->data, T, R, o, m->data, NULL, &info, err);
    if (rc) {
        bs_tensor_free(m);
        return rc;
    }
    if (info.n_undefined && d->labels && info.first_undefined < d->n_labels)
        bs_log(BS_LOG_WARN, "fc: ROI '%s' (and %lld more) has no defined correlation: NaN row and column",
               d->labels[info.first_undefined], (long long)info.n_undefined - 1);
    bs_data *res = bs_data_new(BS_PORT_MATRIX, m, err);
    if (!res || bs_data_copy_meta(res, d, err)) {
        bs_data_free(res);
        return err->code;
    }
    char desc[128];
    if (o->kind == BS_FC_LEDOIT_WOLF)
        snprintf(desc, sizeof desc, "ledoit_wolf shrinkage=%.6g%s", info.shrinkage, o->fisher_z ? " fisher_z" : "");
    else if (o->kind == BS_FC_PARTIAL)
        snprintf(desc, sizeof desc, "partial ridge=%g%s", o->partial_ridge, o->fisher_z ? " fisher_z" : "");
    else
        snprintf(desc, sizeof desc, "pearson%s", o->fisher_z ? " fisher_z" : "");
    /* {stat} names the file: stat-pearsoncorrelation etc. (docs/fc.md). */
    if (bs_data_set_attr(res, "fc", desc, err) || bs_data_set_attr(res, "stat", bs_fc_stat_name(o), err)) {
        bs_data_free(res);
        return err->code;
    }
    out[0] = res;
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "fc",
    .version = "1.0",
    .summary = "functional connectivity: Pearson, Fisher z, partial, Ledoit-Wolf correlation",
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
