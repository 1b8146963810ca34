/* clean_stage.c - `clean` stage: confound regression, detrend, band-pass,
 * FD censoring and z-scoring of a T x R time series (core: bs_clean).
 *
 * The confounds table is fMRIPrep's desc-confounds_timeseries.tsv given by
 * path; the TR comes from the input data (the source fills it from the BOLD
 * JSON sidecar or header) unless tr= overrides it.  Parameters and the
 * order of operations: docs/clean.md. */
#include "brainstage/clean.h"
#include "brainstage/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *confounds;
    const char *strategy;
    const char *columns;
    int64_t acompcor_n;
    int64_t dummy_scans;
    const char *detrend;
    bs_double_list band;
    int64_t filter_order;
    const char *padding;
    double fd_max;
    int censor;
    int zscore;
    double tr;
} config;

static const bs_param_desc params[] = {
    {"confounds", BS_PARAM_STRING, "", 1, 0, NULL,
     "fMRIPrep desc-confounds_timeseries.tsv (empty: no regression, no censoring)", offsetof(config, confounds)},
    {"strategy", BS_PARAM_ENUM, "36P", 1, 0, "none|24P|36P|aCompCor|aCompCorWMCSF|custom",
     "confound set (aCompCorWMCSF: XCP-D's acompcor, needs the confounds JSON; custom: exactly `columns`)",
     offsetof(config, strategy)},
    {"columns", BS_PARAM_STRING, "", 1, 0, NULL, "extra confound columns, comma-separated",
     offsetof(config, columns)},
    {"acompcor_n", BS_PARAM_INT, "5", 1, 100, NULL, "a_comp_cor components for aCompCor (per tissue for aCompCorWMCSF)",
     offsetof(config, acompcor_n)},
    {"dummy_scans", BS_PARAM_INT, "0", -1, 1000000, NULL,
     "leading volumes to drop; -1 = count non_steady_state_outlier columns", offsetof(config, dummy_scans)},
    {"detrend", BS_PARAM_ENUM, "linear", 1, 0, "none|constant|linear|quadratic", "polynomial removed first",
     offsetof(config, detrend)},
    {"band", BS_PARAM_DOUBLE_LIST, "0.01,0.08", 0, 1000, NULL,
     "high-pass,low-pass edges in Hz; 0 disables an edge", offsetof(config, band)},
    {"filter_order", BS_PARAM_INT, "2", 1, 16, NULL, "Butterworth order (band-pass: 2x poles)",
     offsetof(config, filter_order)},
    {"padding", BS_PARAM_ENUM, "odd", 1, 0, "odd|constant",
     "filter edge padding: odd = scipy sosfiltfilt default, constant = XCP-D", offsetof(config, padding)},
    {"fd_max", BS_PARAM_DOUBLE, "0.5", 0, 1000, NULL, "censor volumes with FD above this (mm); 0 = off",
     offsetof(config, fd_max)},
    {"censor", BS_PARAM_BOOL, "yes", 1, 0, NULL, "drop flagged volumes (no: keep them interpolated)",
     offsetof(config, censor)},
    {"zscore", BS_PARAM_BOOL, "no", 1, 0, NULL, "z-score each ROI at the end (ddof 1)", offsetof(config, zscore)},
    {"tr", BS_PARAM_DOUBLE, "0", 0, 1000, NULL, "repetition time in s; 0 = from the input", offsetof(config, tr)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_TIMESERIES, 0, "T x R ROI time series"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_TIMESERIES, 0, "cleaned T' x R time series"}};

typedef struct stage {
    config cfg;
    bs_clean_strategy strategy;
    bs_clean_options opt;
} stage;

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    (void)host;
    stage *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *(const config *)cfg;
    const config *c = &s->cfg;
    if (bs_clean_strategy_parse(c->strategy, &s->strategy, err))
        goto fail;
    bs_clean_options_init(&s->opt);
    if (c->band.n != 2) {
        bs_error_set(err, BS_ERR_USAGE, "clean: band needs two numbers (high-pass,low-pass in Hz), got %d", c->band.n);
        goto fail;
    }
    s->opt.high_pass_hz = c->band.v[0];
    s->opt.low_pass_hz = c->band.v[1];
    s->opt.filter_order = (int)c->filter_order;
    s->opt.padding = strcmp(c->padding, "constant") == 0 ? BS_PAD_CONSTANT : BS_PAD_ODD;
    s->opt.dummy_scans = (int)c->dummy_scans;
    s->opt.detrend_order = strcmp(c->detrend, "none") == 0       ? -1
                           : strcmp(c->detrend, "constant") == 0 ? 0
                           : strcmp(c->detrend, "quadratic") == 0 ? 2
                                                                 : 1;
    s->opt.fd_threshold = c->fd_max;
    s->opt.censor = c->censor;
    s->opt.zscore = c->zscore;
    if (!*c->confounds && s->strategy != BS_CLEAN_NONE) {
        bs_error_set(err, BS_ERR_USAGE, "clean: strategy %s needs confounds=PATH (or strategy=none)", c->strategy);
        goto fail;
    }
    return s;
fail:
    free(s);
    return NULL;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    stage *s = self;
    const bs_data *d = in[0];
    if (!d->tensor || d->tensor->ndim != 2)
        return bs_error_set(err, BS_ERR_DATA, "clean: input must be a T x R time series");
    int64_t T = d->tensor->shape[0], R = d->tensor->shape[1];
    if (R > 1000000)
        return bs_error_set(err, BS_ERR_UNSUPPORTED, "clean: %lld columns is too many", (long long)R);
    double tr = s->cfg.tr > 0.0 ? s->cfg.tr : d->tr;

    bs_confounds *conf = NULL;
    if (*s->cfg.confounds) {
        conf = bs_confounds_load(s->cfg.confounds, s->strategy, s->cfg.columns, (int)s->cfg.acompcor_n, err);
        if (!conf)
            return bs_error_prefix(err, "clean: ");
    }
    bs_clean_result res;
    int rc = bs_clean(d->tensor->data, T, (int)R, tr, conf, &s->opt, &res, err);
    bs_confounds_free(conf);
    if (rc) {
        /* name the files: bs_clean only sees arrays */
        const char *src = bs_data_get_attr(d, "source");
        if (*s->cfg.confounds)
            return bs_error_prefix(err, "%s (confounds %s): ", src ? src : "input", s->cfg.confounds);
        return src ? bs_error_prefix(err, "%s: ", src) : rc;
    }

    bs_tensor *t = bs_tensor_new_2d(res.n_rows, R, err);
    if (!t) {
        bs_clean_result_free(&res);
        return err->code;
    }
    memcpy(t->data, res.data, (size_t)res.n_rows * (size_t)R * sizeof(float));
    char summary[256];
    snprintf(summary, sizeof summary,
             "strategy=%s band=%g,%g order=%d fd_max=%g dummy=%lld flagged=%lld kept=%lld", s->cfg.strategy,
             s->opt.high_pass_hz, s->opt.low_pass_hz, s->opt.filter_order, s->opt.fd_threshold,
             (long long)res.n_dummy, (long long)res.n_flagged, (long long)res.n_rows);
    bs_clean_result_free(&res);
    bs_data *o = bs_data_new(BS_PORT_TIMESERIES, t, err);
    if (!o || bs_data_copy_meta(o, d, err) || bs_data_set_attr(o, "clean", summary, err)) {
        bs_data_free(o);
        return err->code;
    }
    if (tr > 0.0)
        o->tr = tr;
    out[0] = o;
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "clean",
    .version = "1.0",
    .summary = "confound regression (24P/36P/aCompCor), detrend, band-pass, FD censoring (XCP-D order)",
    .inputs = inputs, .n_inputs = BS_COUNT_OF(inputs),
    .outputs = outputs, .n_outputs = BS_COUNT_OF(outputs),
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
