/* tsv_sink.c - `tsv` sink: a table (BIDS-derivative style) plus a JSON sidecar.
 *
 * timeseries -> header of ROI names, one row per time point (XCP-D
 *               *_timeseries.tsv); matrix -> "Node" column + ROI names
 *               (XCP-D *_relmat.tsv); embedding / prediction -> one row per
 *               sample.  table=coverage writes the per-ROI coverage an atlas
 *               stage attached instead: a "Node" column of ROI names and one
 *               "coverage" column (XCP-D *_stat-coverage_bold.tsv).  NaN is
 *               written as n/a.  The file appears under its final name only
 *               when the whole pipeline has succeeded. */
#include "brainstage/fileio.h"
#include "brainstage/plugin.h"
#include "brainstage/tsv.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *path;
    int sidecar;
    const char *table;
} config;

typedef struct sink {
    config cfg;
    bs_pending_file table, json;
} sink;

static const bs_param_desc params[] = {
    {"path", BS_PARAM_STRING, NULL, 1, 0, NULL,
     "output file; {key} expands data attributes, e.g. {entities}", offsetof(config, path)},
    {"sidecar", BS_PARAM_BOOL, "yes", 1, 0, NULL, "also write a .json sidecar (TR, sources, coverage)",
     offsetof(config, sidecar)},
    {"table", BS_PARAM_ENUM, "data", 1, 0, "data|coverage",
     "data: the input itself; coverage: its per-ROI coverage (Node, coverage)", offsetof(config, table)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_ANY, 0, "timeseries, matrix, embedding or prediction"}};

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
    bs_pending_discard(&s->table);
    bs_pending_discard(&s->json);
    free(s);
}

/* Column names: the data's labels, else prefix_0001 ... */
static char **column_names(const bs_data *d, int64_t n, const char *prefix)
{
    char **names = calloc((size_t)n + 1, sizeof *names);
    if (!names)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (d->n_labels == n) {
            names[i] = strdup(d->labels[i]);
        } else {
            names[i] = malloc(32);
            if (names[i])
                snprintf(names[i], 32, "%s_%04lld", prefix, (long long)i + 1);
        }
        if (!names[i]) {
            for (int64_t k = 0; k < i; k++)
                free(names[k]);
            free(names);
            return NULL;
        }
    }
    return names;
}

static void free_names(char **names, int64_t n)
{
    if (!names)
        return;
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char *sidecar_name(const char *table_path)
{
    const char *dot = strrchr(table_path, '.');
    const char *slash = strrchr(table_path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - table_path) : strlen(table_path);
    char *out = malloc(stem + 6);
    if (out)
        snprintf(out, stem + 6, "%.*s.json", (int)stem, table_path);
    return out;
}

/* BIDS column descriptions of the coverage table. */
static void describe_coverage(json_t *root)
{
    json_t *node = json_object(), *cov = json_object();
    json_object_set_new(node, "Description", json_string("ROI name, from the atlas's label table"));
    json_object_set_new(cov, "Description",
                        json_string("Fraction of the parcel's voxels (weight, for probabilistic maps) on the BOLD "
                                    "grid that lie inside the brain mask; 0 when none is in the field of view"));
    json_object_set_new(root, "Node", node);
    json_object_set_new(root, "coverage", cov);
}

static int write_sidecar(sink *s, const bs_data *d, const char *table_path, int coverage_table, bs_error *err)
{
    char *path = sidecar_name(table_path);
    if (!path)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    int rc = bs_pending_prepare(&s->json, path, err);
    free(path);
    if (rc)
        return rc;
    json_t *root = json_object();
    if (d->tr > 0 && !coverage_table) { /* the coverage table has no time axis */
        json_object_set_new(root, "RepetitionTime", json_real(d->tr));
        json_object_set_new(root, "SamplingFrequency", json_real(1.0 / d->tr));
    }
    /* Sources: the BOLD run (as a BIDS URI when the source stage was given
     * one, as brainstage bids does), and the atlas image (XCP-D lists the
     * atlas). */
    json_t *src = json_array();
    const char *bold = bs_data_get_attr(d, "source_uri");
    const char *vals[] = {bold ? bold : bs_data_get_attr(d, "source"), bs_data_get_attr(d, "atlas_file")};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++)
        if (vals[k])
            json_array_append_new(src, json_string(vals[k]));
    if (json_array_size(src))
        json_object_set_new(root, "Sources", src);
    else
        json_decref(src);
    json_t *attrs = json_object();
    for (int i = 0; i < d->n_attrs; i++)
        json_object_set_new(attrs, d->attr_keys[i], json_string(d->attr_values[i]));
    json_object_set_new(root, "brainstage", attrs);
    if (coverage_table)
        describe_coverage(root);
    else if (d->coverage && d->n_labels > 0) {
        json_t *cov = json_object();
        for (int i = 0; i < d->n_labels; i++)
            json_object_set_new(cov, d->labels[i], json_real(d->coverage[i]));
        json_object_set_new(root, "Coverage", cov);
    }
    errno = 0;
    if (json_dump_file(root, s->json.temp_path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        rc = bs_error_set(err, BS_ERR_IO, "%s: cannot write JSON sidecar: %s", s->json.final_path,
                          errno ? strerror(errno) : "write failed");
    json_decref(root);
    return rc;
}

/* XCP-D's coverage layout: "Node<TAB>coverage", one row per ROI in column order. */
static int write_coverage(const char *path, const bs_data *d, bs_error *err)
{
    float *v = malloc((size_t)d->n_labels * sizeof *v);
    if (!v)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < d->n_labels; i++)
        v[i] = (float)d->coverage[i];
    const char *header[] = {"coverage"};
    int rc = bs_tsv_write_matrix(path, d->n_labels, 1, v, header, "Node", (const char *const *)d->labels, err);
    free(v);
    return rc;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)out;
    sink *s = self;
    const bs_data *d = in[0];
    if (d->kind == BS_PORT_VOLUME4D || d->kind == BS_PORT_MATRIX_BATCH)
        return bs_error_set(err, BS_ERR_USAGE, "the tsv sink writes tables; a %s needs the safetensors sink",
                            bs_port_kind_name(d->kind));
    int coverage_table = strcmp(s->cfg.table, "coverage") == 0;
    if (coverage_table && (!d->coverage || d->n_labels < 1))
        return bs_error_set(err, BS_ERR_USAGE, "tsv table=coverage: the input (%s) carries no per-ROI coverage; "
                            "connect it to an atlas stage or a stage after one", bs_port_kind_name(d->kind));
    char *path = bs_data_format(d, s->cfg.path, err);
    if (!path)
        return err->code;
    int rc = bs_pending_prepare(&s->table, path, err);
    if (rc) {
        free(path);
        return rc;
    }
    int64_t rows = d->tensor->shape[0], cols = d->tensor->shape[1];
    const char *prefix = d->kind == BS_PORT_EMBEDDING ? "dim" : d->kind == BS_PORT_PREDICTION ? "class" : "roi";
    char **names = column_names(d, cols, prefix);
    if (!names) {
        free(path);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    if (coverage_table)
        rc = write_coverage(s->table.temp_path, d, err);
    else if (d->kind == BS_PORT_MATRIX)
        rc = bs_tsv_write_matrix(s->table.temp_path, rows, (int)cols, d->tensor->data, (const char *const *)names,
                                 "Node", (const char *const *)names, err);
    else
        rc = bs_tsv_write_matrix(s->table.temp_path, rows, (int)cols, d->tensor->data, (const char *const *)names,
                                 NULL, NULL, err);
    free_names(names, cols);
    if (rc)
        bs_error_prefix(err, "%s: ", path);
    if (!rc && s->cfg.sidecar)
        rc = write_sidecar(s, d, path, coverage_table, err);
    free(path);
    return rc;
}

static int finalize(void *self, bs_error *err)
{
    sink *s = self;
    int rc = bs_pending_commit(&s->table, err);
    return rc ? rc : bs_pending_commit(&s->json, err);
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "tsv", .version = "1.0", .summary = "write a table (+ JSON sidecar) in BIDS-derivative style",
    .inputs = inputs, .n_inputs = 1,
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .finalize = finalize, .destroy = destroy,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
