/* test_plugin.c - tiny stages used by the loader, pipeline and CLI tests.
 *
 *   test-source : params rows, cols, seed -> timeseries with a known formula
 *   test-scale  : timeseries -> timeseries * factor
 *   test-fail   : any -> fails in process with a message (error paths)
 *   test-join   : two timeseries -> their sum (multi-input ports) */
#include "brainstage/plugin.h"

#include <stdlib.h>
#include <string.h>

typedef struct source_cfg {
    int64_t rows, cols, seed;
    double tr;
} source_cfg;

static const bs_param_desc source_params[] = {
    {"rows", BS_PARAM_INT, "10", 1, 100000, NULL, "time points", offsetof(source_cfg, rows)},
    {"cols", BS_PARAM_INT, "3", 1, 10000, NULL, "ROIs", offsetof(source_cfg, cols)},
    {"seed", BS_PARAM_INT, "0", 0, 1e9, NULL, "added to every value", offsetof(source_cfg, seed)},
    {"tr", BS_PARAM_DOUBLE, "2.0", 0.01, 100, NULL, "repetition time in seconds", offsetof(source_cfg, tr)},
};
static const bs_port_desc ts_out[] = {{"output", BS_PORT_TIMESERIES, 0, "T x R values"}};

static void *cfg_copy(const void *config, size_t size, bs_error *err)
{
    void *self = malloc(size);
    if (!self) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(self, config, size);
    return self;
}

static void *source_create(const void *config, const bs_host *host, bs_error *err)
{
    (void)host;
    return cfg_copy(config, sizeof(source_cfg), err);
}

/* value(t, r) = t + 1000 r + seed: easy to check after any transform. */
static int source_process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)in;
    const source_cfg *c = self;
    bs_tensor *t = bs_tensor_new_2d(c->rows, c->cols, err);
    if (!t)
        return err->code;
    for (int64_t i = 0; i < c->rows; i++)
        for (int64_t r = 0; r < c->cols; r++)
            t->data[i * c->cols + r] = (float)(i + 1000 * r + c->seed);
    bs_data *d = bs_data_new(BS_PORT_TIMESERIES, t, err);
    if (!d)
        return err->code;
    d->tr = c->tr;
    out[0] = d;
    return BS_OK;
}

static const bs_plugin source_plugin = {
    BS_PLUGIN_HEADER,
    .name = "test-source", .version = "1.0", .summary = "test: deterministic time series",
    .outputs = ts_out, .n_outputs = 1,
    .params = source_params, .n_params = BS_COUNT_OF(source_params), .config_size = sizeof(source_cfg),
    .create = source_create, .process = source_process, .destroy = free,
};

typedef struct scale_cfg {
    double factor;
    const char *mode;
    int enabled;
    bs_double_list band;
} scale_cfg;

static const bs_param_desc scale_params[] = {
    {"factor", BS_PARAM_DOUBLE, "2", -1000, 1000, NULL, "multiplier", offsetof(scale_cfg, factor)},
    {"mode", BS_PARAM_ENUM, "mul", 1, 0, "mul|add", "mul multiplies, add adds factor", offsetof(scale_cfg, mode)},
    {"enabled", BS_PARAM_BOOL, "yes", 1, 0, NULL, "no passes data through", offsetof(scale_cfg, enabled)},
    {"band", BS_PARAM_DOUBLE_LIST, "0.01,0.1", 0, 10, NULL, "unused; exercises lists", offsetof(scale_cfg, band)},
};
static const bs_port_desc ts_in[] = {{"input", BS_PORT_TIMESERIES, 0, "T x R values"}};

static void *scale_create(const void *config, const bs_host *host, bs_error *err)
{
    (void)host;
    return cfg_copy(config, sizeof(scale_cfg), err);
}

static int scale_process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    const scale_cfg *c = self;
    bs_tensor *t = bs_tensor_clone(in[0]->tensor, err);
    if (!t)
        return err->code;
    int add = strcmp(c->mode, "add") == 0;
    if (c->enabled)
        for (int64_t i = 0; i < bs_tensor_numel(t); i++)
            t->data[i] = add ? t->data[i] + (float)c->factor : t->data[i] * (float)c->factor;
    bs_data *d = bs_data_new(BS_PORT_TIMESERIES, t, err);
    if (!d || bs_data_copy_meta(d, in[0], err)) {
        bs_data_free(d);
        return err->code;
    }
    out[0] = d;
    return BS_OK;
}

static const bs_plugin scale_plugin = {
    BS_PLUGIN_HEADER,
    .name = "test-scale", .version = "1.0", .summary = "test: scale a time series",
    .inputs = ts_in, .n_inputs = 1, .outputs = ts_out, .n_outputs = 1,
    .params = scale_params, .n_params = BS_COUNT_OF(scale_params), .config_size = sizeof(scale_cfg),
    .create = scale_create, .process = scale_process, .destroy = free,
};

typedef struct fail_cfg {
    const char *message;
} fail_cfg;

static const bs_param_desc fail_params[] = {
    {"message", BS_PARAM_STRING, "deliberate failure", 1, 0, NULL, "error text", offsetof(fail_cfg, message)},
};
static const bs_port_desc any_in[] = {{"input", BS_PORT_ANY, 1, "anything"}};

static void *fail_create(const void *config, const bs_host *host, bs_error *err)
{
    (void)host;
    return cfg_copy(config, sizeof(fail_cfg), err);
}

static int fail_process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)in;
    (void)out;
    return bs_error_set(err, BS_ERR_DATA, "%s", ((const fail_cfg *)self)->message);
}

static const bs_plugin fail_plugin = {
    BS_PLUGIN_HEADER,
    .name = "test-fail", .version = "1.0", .summary = "test: always fails",
    .inputs = any_in, .n_inputs = 1,
    .params = fail_params, .n_params = BS_COUNT_OF(fail_params), .config_size = sizeof(fail_cfg),
    .create = fail_create, .process = fail_process, .destroy = free,
};

static const bs_port_desc join_in[] = {{"a", BS_PORT_TIMESERIES, 0, "first"}, {"b", BS_PORT_TIMESERIES, 0, "second"}};

static void *join_create(const void *config, const bs_host *host, bs_error *err)
{
    (void)config;
    (void)host;
    return cfg_copy("", 1, err);
}

static int join_process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)self;
    const bs_tensor *a = in[0]->tensor, *b = in[1]->tensor;
    if (a->shape[0] != b->shape[0] || a->shape[1] != b->shape[1])
        return bs_error_set(err, BS_ERR_DATA, "inputs a and b differ in shape");
    bs_tensor *t = bs_tensor_clone(a, err);
    if (!t)
        return err->code;
    for (int64_t i = 0; i < bs_tensor_numel(t); i++)
        t->data[i] += b->data[i];
    out[0] = bs_data_new(BS_PORT_TIMESERIES, t, err);
    return out[0] ? bs_data_copy_meta(out[0], in[0], err) : err->code;
}

static const bs_plugin join_plugin = {
    BS_PLUGIN_HEADER,
    .name = "test-join", .version = "1.0", .summary = "test: add two time series",
    .inputs = join_in, .n_inputs = 2, .outputs = ts_out, .n_outputs = 1,
    .create = join_create, .process = join_process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    static const bs_plugin *const all[] = {&source_plugin, &scale_plugin, &fail_plugin, &join_plugin};
    return index < BS_COUNT_OF(all) ? all[index] : NULL;
}
