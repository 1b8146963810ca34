/* params.c - typed, validated plugin parameters. */
#include "brainstage/params.h"
#include "brainstage/registry.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct bs_config {
    const bs_plugin *plugin;
    unsigned char *data;
    char **strings; /* one owned string slot per parameter */
    unsigned char *is_set;
};

const char *bs_param_type_name(bs_param_type type)
{
    switch (type) {
    case BS_PARAM_INT: return "int";
    case BS_PARAM_DOUBLE: return "double";
    case BS_PARAM_BOOL: return "bool";
    case BS_PARAM_STRING: return "string";
    case BS_PARAM_ENUM: return "enum";
    case BS_PARAM_PATH: return "path";
    case BS_PARAM_DOUBLE_LIST: return "double-list";
    }
    return "unknown";
}

size_t bs_param_field_size(bs_param_type type)
{
    switch (type) {
    case BS_PARAM_INT: return sizeof(int64_t);
    case BS_PARAM_DOUBLE: return sizeof(double);
    case BS_PARAM_BOOL: return sizeof(int);
    case BS_PARAM_STRING:
    case BS_PARAM_ENUM:
    case BS_PARAM_PATH: return sizeof(const char *);
    case BS_PARAM_DOUBLE_LIST: return sizeof(bs_double_list);
    }
    return 0;
}

static int bounded(const bs_param_desc *d)
{
    return d->min <= d->max;
}

static int check_range(const bs_param_desc *d, double v, const char *text, bs_error *err)
{
    if (bounded(d) && (v < d->min || v > d->max))
        return bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s is out of range: expected %g..%g",
                            d->name, text, d->min, d->max);
    return BS_OK;
}

static int parse_double(const bs_param_desc *d, const char *s, const char *whole, double *out, bs_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s: expected a finite number",
                            d->name, whole);
    *out = v;
    return check_range(d, v, whole, err);
}

/* Is value one of the '|'-separated choices? */
static int in_choices(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *c = choices; c && *c;) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && strncmp(c, value, n) == 0)
            return 1;
        c = bar ? bar + 1 : c + n;
    }
    return 0;
}

int bs_param_parse(const bs_param_desc *d, const char *text, void *field, char **owned, bs_error *err)
{
    *owned = NULL;
    switch (d->type) {
    case BS_PARAM_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno == ERANGE)
            return bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s: expected an integer", d->name, text);
        int rc = check_range(d, (double)v, text, err);
        if (rc)
            return rc;
        int64_t iv = v;
        memcpy(field, &iv, sizeof iv);
        return BS_OK;
    }
    case BS_PARAM_DOUBLE: {
        double v;
        int rc = parse_double(d, text, text, &v, err);
        if (!rc)
            memcpy(field, &v, sizeof v);
        return rc;
    }
    case BS_PARAM_BOOL: {
        int v;
        if (!strcasecmp(text, "yes") || !strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "on"))
            v = 1;
        else if (!strcasecmp(text, "no") || !strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "off"))
            v = 0;
        else
            return bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s: expected yes or no", d->name, text);
        memcpy(field, &v, sizeof v);
        return BS_OK;
    }
    case BS_PARAM_ENUM:
        if (!in_choices(d->choices, text))
            return bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s: expected one of %s", d->name, text,
                                d->choices ? d->choices : "(none)");
        /* fall through */
    case BS_PARAM_STRING:
    case BS_PARAM_PATH: {
        if (d->type == BS_PARAM_PATH && !*text)
            return bs_error_set(err, BS_ERR_USAGE, "parameter %s: expected a path, got an empty value", d->name);
        char *copy = strdup(text);
        if (!copy)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        const char *p = copy;
        memcpy(field, &p, sizeof p);
        *owned = copy;
        return BS_OK;
    }
    case BS_PARAM_DOUBLE_LIST: {
        bs_double_list list;
        memset(&list, 0, sizeof list);
        char *copy = strdup(text);
        if (!copy)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        int rc = BS_OK;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (list.n == BS_DOUBLE_LIST_MAX) {
                rc = bs_error_set(err, BS_ERR_USAGE, "parameter %s=%s: at most %d numbers", d->name, text,
                                  BS_DOUBLE_LIST_MAX);
                break;
            }
            if ((rc = parse_double(d, tok, text, &list.v[list.n], err)))
                break;
            list.n++;
        }
        free(copy);
        if (!rc && list.n == 0)
            rc = bs_error_set(err, BS_ERR_USAGE, "parameter %s: expected comma-separated numbers", d->name);
        if (!rc)
            memcpy(field, &list, sizeof list);
        return rc;
    }
    }
    return bs_error_set(err, BS_ERR_INTERNAL, "parameter %s has unknown type %d", d->name, (int)d->type);
}

const bs_param_desc *bs_plugin_find_param(const bs_plugin *plugin, const char *name)
{
    for (uint32_t i = 0; i < plugin->n_params; i++)
        if (strcmp(plugin->params[i].name, name) == 0)
            return &plugin->params[i];
    return NULL;
}

void bs_config_free(bs_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->strings)
        for (uint32_t i = 0; i < cfg->plugin->n_params; i++)
            free(cfg->strings[i]);
    free(cfg->strings);
    free(cfg->is_set);
    free(cfg->data);
    free(cfg);
}

static int apply(bs_config *cfg, uint32_t index, const char *text, bs_error *err)
{
    const bs_param_desc *d = &cfg->plugin->params[index];
    char *owned = NULL;
    int rc = bs_param_parse(d, text, cfg->data + d->offset, &owned, err);
    if (rc)
        return rc;
    free(cfg->strings[index]);
    cfg->strings[index] = owned;
    return BS_OK;
}

bs_config *bs_config_new(const bs_plugin *plugin, bs_error *err)
{
    bs_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cfg->plugin = plugin;
    cfg->data = calloc(1, plugin->config_size ? plugin->config_size : 1);
    cfg->strings = calloc(plugin->n_params ? plugin->n_params : 1, sizeof *cfg->strings);
    cfg->is_set = calloc(plugin->n_params ? plugin->n_params : 1, 1);
    if (!cfg->data || !cfg->strings || !cfg->is_set) {
        bs_config_free(cfg);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < plugin->n_params; i++) {
        if (!plugin->params[i].default_value)
            continue;
        if (apply(cfg, i, plugin->params[i].default_value, err)) {
            bs_error_prefix(err, "plugin %s: invalid default: ", plugin->name);
            bs_config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

int bs_config_set(bs_config *cfg, const char *key, const char *value, bs_error *err)
{
    const bs_plugin *p = cfg->plugin;
    for (uint32_t i = 0; i < p->n_params; i++) {
        if (strcmp(p->params[i].name, key) == 0) {
            int rc = apply(cfg, i, value, err);
            if (!rc)
                cfg->is_set[i] = 1;
            return rc;
        }
    }
    const char **names = calloc(p->n_params + p->n_inputs + 1, sizeof *names);
    int n = 0;
    for (uint32_t i = 0; names && i < p->n_params; i++)
        names[n++] = p->params[i].name;
    for (uint32_t i = 0; names && i < p->n_inputs; i++)
        names[n++] = p->inputs[i].name;
    const char *hint = names ? bs_suggest(key, names, n) : NULL;
    int rc;
    if (hint)
        rc = bs_error_set(err, BS_ERR_USAGE, "unknown parameter '%s' for stage type %s (did you mean '%s'?)",
                          key, p->name, hint);
    else
        rc = bs_error_set(err, BS_ERR_USAGE, "unknown parameter '%s' for stage type %s (see: brainstage plugin %s)",
                          key, p->name, p->name);
    free(names);
    return rc;
}

int bs_config_check_required(const bs_config *cfg, bs_error *err)
{
    const bs_plugin *p = cfg->plugin;
    for (uint32_t i = 0; i < p->n_params; i++)
        if (!p->params[i].default_value && !cfg->is_set[i])
            return bs_error_set(err, BS_ERR_USAGE, "stage type %s needs parameter %s (%s): %s", p->name,
                                p->params[i].name, bs_param_type_name(p->params[i].type),
                                p->params[i].help ? p->params[i].help : "");
    return BS_OK;
}

const void *bs_config_data(const bs_config *cfg) { return cfg->data; }
