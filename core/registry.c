/* registry.c - plugin discovery (dlopen), ABI checks and lookup. */
#include "brainstage/registry.h"
#include "brainstage/params.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef BS_PLUGIN_DIR
#define BS_PLUGIN_DIR "/usr/local/lib/brainstage"
#endif

typedef struct entry {
    bs_plugin desc; /* host-sized copy; fields past the module's struct_size stay zero */
    char *origin;
} entry;

struct bs_registry {
    entry *entries;
    int n, cap;
    void **handles;
    int n_handles;
    char **problems;
    int n_problems;
};

bs_registry *bs_registry_new(void)
{
    return calloc(1, sizeof(bs_registry));
}

void bs_registry_free(bs_registry *reg)
{
    if (!reg)
        return;
    for (int i = 0; i < reg->n; i++)
        free(reg->entries[i].origin);
    free(reg->entries);
    /* Unload after descriptors are gone: their strings live in the modules.
     * Under sanitizers keep modules mapped so leak reports keep symbols. */
    for (int i = 0; i < reg->n_handles; i++)
        if (!getenv("BRAINSTAGE_KEEP_MODULES"))
            dlclose(reg->handles[i]);
    free(reg->handles);
    for (int i = 0; i < reg->n_problems; i++)
        free(reg->problems[i]);
    free(reg->problems);
    free(reg);
}

static int valid_stage_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* Smallest descriptor a 1.0 module can have: everything up to destroy. */
#define BS_PLUGIN_V1_0_SIZE (offsetof(bs_plugin, destroy) + sizeof(void (*)(void *)))

int bs_plugin_validate(const bs_plugin *p, const char *origin, bs_error *err)
{
    if (p->abi_major != BS_PLUGIN_ABI_MAJOR)
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: plugin ABI %u.%u is not supported by this brainstage (ABI %u.%u): rebuild the plugin",
                            origin, p->abi_major, p->abi_minor, BS_PLUGIN_ABI_MAJOR, BS_PLUGIN_ABI_MINOR);
    if (p->abi_minor > BS_PLUGIN_ABI_MINOR)
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: plugin needs ABI %u.%u, this brainstage provides %u.%u: upgrade brainstage",
                            origin, p->abi_major, p->abi_minor, BS_PLUGIN_ABI_MAJOR, BS_PLUGIN_ABI_MINOR);
    if (p->struct_size < BS_PLUGIN_V1_0_SIZE)
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: descriptor struct_size %u is smaller than ABI 1.0's %zu",
                            origin, p->struct_size, (size_t)BS_PLUGIN_V1_0_SIZE);
    if (!valid_stage_name(p->name))
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage name '%s' must be lower-case letters, digits, '-' or '_'",
                            origin, p->name ? p->name : "(null)");
    if (!p->create || !p->process || !p->destroy)
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s lacks a create, process or destroy callback", origin, p->name);
    if ((p->n_inputs && !p->inputs) || (p->n_outputs && !p->outputs) || (p->n_params && !p->params))
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s declares ports or parameters without a table", origin, p->name);
    for (uint32_t i = 0; i < p->n_inputs; i++)
        if (!p->inputs[i].name || p->inputs[i].kind == BS_PORT_NONE)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: input port %u has no name or kind", origin, p->name, i);
    for (uint32_t i = 0; i < p->n_outputs; i++)
        if (!p->outputs[i].name || p->outputs[i].kind == BS_PORT_NONE || p->outputs[i].kind == BS_PORT_ANY)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: output port %u needs a name and a concrete kind", origin, p->name, i);
    for (uint32_t i = 0; i < p->n_params; i++) {
        const bs_param_desc *d = &p->params[i];
        size_t size = bs_param_field_size(d->type);
        if (!d->name || !size)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: parameter %u has no name or an unknown type", origin, p->name, i);
        if (d->offset > p->config_size || size > p->config_size - d->offset)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: parameter %s lies outside the %zu-byte config struct",
                                origin, p->name, d->name, p->config_size);
        if (d->type == BS_PARAM_ENUM && !d->choices)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: enum parameter %s lists no choices", origin, p->name, d->name);
        for (uint32_t j = 0; j < p->n_inputs; j++)
            if (strcmp(d->name, p->inputs[j].name) == 0)
                return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: '%s' is both a parameter and an input port", origin, p->name, d->name);
        if (d->default_value) {
            unsigned char scratch[sizeof(bs_double_list)];
            char *owned = NULL;
            bs_error sub;
            if (bs_param_parse(d, d->default_value, scratch, &owned, &sub)) {
                free(owned);
                return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s: invalid default: %s", origin, p->name, sub.message);
            }
            free(owned);
        }
    }
    return BS_OK;
}

int bs_registry_add(bs_registry *reg, const bs_plugin *p, const char *origin, bs_error *err)
{
    int rc = bs_plugin_validate(p, origin, err);
    if (rc)
        return rc;
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->entries[i].desc.name, p->name) == 0)
            return bs_error_set(err, BS_ERR_PLUGIN, "%s: stage %s is already provided by %s", origin, p->name,
                                reg->entries[i].origin);
    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 16;
        entry *e = realloc(reg->entries, (size_t)cap * sizeof *e);
        if (!e)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        reg->entries = e;
        reg->cap = cap;
    }
    entry *e = &reg->entries[reg->n];
    memset(&e->desc, 0, sizeof e->desc);
    size_t n = p->struct_size < sizeof e->desc ? p->struct_size : sizeof e->desc;
    memcpy(&e->desc, p, n);
    e->origin = strdup(origin);
    if (!e->origin)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    reg->n++;
    return BS_OK;
}

int bs_registry_load_module(bs_registry *reg, const char *path, bs_error *err)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: cannot load plugin module: %s", path, why ? why : "unknown error");
    }
    bs_plugin_entry_fn entry_fn;
    void *sym = dlsym(h, BS_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry_fn, &sym, sizeof entry_fn);
    if (!sym) {
        dlclose(h);
        return bs_error_set(err, BS_ERR_PLUGIN, "%s: not a brainstage plugin: symbol %s is missing", path,
                            BS_PLUGIN_ENTRY_SYMBOL);
    }
    int start = reg->n;
    int rc = BS_OK;
    for (uint32_t i = 0; i < 256; i++) {
        const bs_plugin *p = entry_fn(i);
        if (!p)
            break;
        if ((rc = bs_registry_add(reg, p, path, err)))
            break;
    }
    if (!rc && reg->n == start)
        rc = bs_error_set(err, BS_ERR_PLUGIN, "%s: module provides no stages", path);
    if (rc) {
        for (int i = start; i < reg->n; i++)
            free(reg->entries[i].origin);
        reg->n = start;
        dlclose(h);
        return rc;
    }
    void **hs = realloc(reg->handles, (size_t)(reg->n_handles + 1) * sizeof *hs);
    if (!hs) {
        dlclose(h);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    reg->handles = hs;
    reg->handles[reg->n_handles++] = h;
    return BS_OK;
}

static void add_problem(bs_registry *reg, const char *msg)
{
    char **p = realloc(reg->problems, (size_t)(reg->n_problems + 1) * sizeof *p);
    if (!p)
        return;
    reg->problems = p;
    reg->problems[reg->n_problems] = strdup(msg);
    if (reg->problems[reg->n_problems])
        reg->n_problems++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_folder(bs_registry *reg, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0 || de->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        if ((names[n] = strdup(de->d_name)))
            n++;
    }
    closedir(d);
    /* Sorted so the first provider of a stage name is deterministic. */
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (path) {
            snprintf(path, len, "%s/%s", dir, names[i]);
            bs_error err;
            if (bs_registry_load_module(reg, path, &err))
                add_problem(reg, err.message);
            free(path);
        }
        free(names[i]);
    }
    free(names);
}

void bs_registry_scan(bs_registry *reg, const char *search_path)
{
    char *copy = strdup(search_path ? search_path : "");
    if (!copy)
        return;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        if (*dir)
            scan_folder(reg, dir);
    free(copy);
}

const char *bs_registry_default_path(void)
{
    static char buf[8192];
    const char *env = getenv("BRAINSTAGE_PLUGIN_PATH");
    if (env && *env)
        snprintf(buf, sizeof buf, "%s:%s", env, BS_PLUGIN_DIR);
    else
        snprintf(buf, sizeof buf, "%s", BS_PLUGIN_DIR);
    return buf;
}

int bs_registry_count(const bs_registry *reg) { return reg->n; }
const bs_plugin *bs_registry_get(const bs_registry *reg, int i) { return &reg->entries[i].desc; }
const char *bs_registry_origin(const bs_registry *reg, int i) { return reg->entries[i].origin; }

const bs_plugin *bs_registry_find(const bs_registry *reg, const char *name)
{
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->entries[i].desc.name, name) == 0)
            return &reg->entries[i].desc;
    return NULL;
}

const char *bs_registry_suggest(const bs_registry *reg, const char *name)
{
    const char **names = calloc((size_t)reg->n + 1, sizeof *names);
    if (!names)
        return NULL;
    for (int i = 0; i < reg->n; i++)
        names[i] = reg->entries[i].desc.name;
    const char *s = bs_suggest(name, names, reg->n);
    free(names);
    return s;
}

int bs_registry_problem_count(const bs_registry *reg) { return reg->n_problems; }
const char *bs_registry_problem(const bs_registry *reg, int i) { return reg->problems[i]; }
