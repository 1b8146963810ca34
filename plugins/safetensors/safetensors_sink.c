/* safetensors_sink.c - `safetensors` sink: any array kind as one tensor.
 *
 * The tensor is stored under `name` (float32); ROI or class labels go into
 * __metadata__ as a JSON array ("labels"), along with the port kind, TR
 * and every data attribute, so the file is self-describing. */
#include "brainstage/fileio.h"
#include "brainstage/plugin.h"
#include "brainstage/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *path;
    const char *name;
} config;

typedef struct sink {
    config cfg;
    bs_pending_file file;
} sink;

static const bs_param_desc params[] = {
    {"path", BS_PARAM_STRING, NULL, 1, 0, NULL, "output file; {key} expands data attributes", offsetof(config, path)},
    {"name", BS_PARAM_STRING, "data", 1, 0, NULL, "tensor name inside the file", offsetof(config, name)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_ANY, 0, "any array kind"}};

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    (void)host;
    sink *s = calloc(1, sizeof *s);
    if (!s) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *(const config *)cfg;
    return s;
}

static void destroy(void *self)
{
    sink *s = self;
    bs_pending_discard(&s->file);
    free(s);
}

static int add_metadata(bs_st_writer *w, const bs_data *d, bs_error *err)
{
    int rc = bs_st_writer_set_metadata(w, "kind", bs_port_kind_name(d->kind), err);
    char buf[64];
    if (!rc && d->tr > 0) {
        snprintf(buf, sizeof buf, "%.17g", d->tr);
        rc = bs_st_writer_set_metadata(w, "tr", buf, err);
    }
    if (!rc && d->n_labels > 0) {
        json_t *arr = json_array();
        for (int i = 0; i < d->n_labels; i++)
            json_array_append_new(arr, json_string(d->labels[i]));
        char *text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        rc = text ? bs_st_writer_set_metadata(w, "labels", text, err) : bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        free(text);
    }
    for (int i = 0; !rc && i < d->n_attrs; i++)
        rc = bs_st_writer_set_metadata(w, d->attr_keys[i], d->attr_values[i], err);
    return rc;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)out;
    sink *s = self;
    const bs_data *d = in[0];
    if (d->kind == BS_PORT_VOLUME4D)
        return bs_error_set(err, BS_ERR_USAGE, "the safetensors sink stores arrays; parcellate the volume4d first");
    char *path = bs_data_format(d, s->cfg.path, err);
    if (!path)
        return err->code;
    int rc = bs_pending_prepare(&s->file, path, err);
    free(path);
    if (rc)
        return rc;
    bs_st_writer *w = bs_st_writer_new();
    if (!w)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    rc = bs_st_writer_add_f32(w, s->cfg.name, d->tensor, err);
    if (!rc)
        rc = add_metadata(w, d, err);
    if (!rc)
        rc = bs_st_writer_write(w, s->file.temp_path, err);
    bs_st_writer_free(w);
    return rc;
}

static int finalize(void *self, bs_error *err)
{
    return bs_pending_commit(&((sink *)self)->file, err);
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "safetensors", .version = "1.0", .summary = "write any array (with labels and metadata) as safetensors",
    .inputs = inputs, .n_inputs = 1,
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .finalize = finalize, .destroy = destroy,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
