/* brainstage/registry.h - finding, loading and validating stage plugins.
 *
 * Modules are shared objects exporting bs_plugin_entry (plugin.h).  The
 * search path is $BRAINSTAGE_PLUGIN_PATH (colon-separated folders), then the
 * installed plugin folder.  A module that fails to load while scanning a
 * folder does not stop the scan: it is recorded as a problem that
 * `brainstage plugins` shows and that is reported when a pipeline asks for
 * a stage type no healthy module provides. */
#ifndef BRAINSTAGE_REGISTRY_H
#define BRAINSTAGE_REGISTRY_H

#include "brainstage/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_registry bs_registry;

bs_registry *bs_registry_new(void);
void bs_registry_free(bs_registry *reg);

/* dlopen one module and add its descriptors.  Errors: unreadable or not a
 * shared object, missing bs_plugin_entry, ABI mismatch, malformed
 * descriptor (bad parameter table), duplicate stage name. */
int bs_registry_load_module(bs_registry *reg, const char *path, bs_error *err);
/* Scans every folder of a colon-separated path for *.so modules. */
void bs_registry_scan(bs_registry *reg, const char *search_path);
/* $BRAINSTAGE_PLUGIN_PATH:<installed plugin dir> (static storage). */
const char *bs_registry_default_path(void);
/* Adds a descriptor compiled into the program (validated like a module's). */
int bs_registry_add(bs_registry *reg, const bs_plugin *plugin, const char *origin, bs_error *err);

int bs_registry_count(const bs_registry *reg);
const bs_plugin *bs_registry_get(const bs_registry *reg, int index);
const char *bs_registry_origin(const bs_registry *reg, int index);
const bs_plugin *bs_registry_find(const bs_registry *reg, const char *name);
/* Closest registered stage name within a small edit distance, or NULL. */
const char *bs_registry_suggest(const bs_registry *reg, const char *name);

int bs_registry_problem_count(const bs_registry *reg);
const char *bs_registry_problem(const bs_registry *reg, int index);

/* Checks a descriptor against this host's ABI (also used by tests). */
int bs_plugin_validate(const bs_plugin *p, const char *origin, bs_error *err);

/* Edit distance (Levenshtein) for "did you mean" suggestions. */
int bs_edit_distance(const char *a, const char *b);
/* The candidate closest to word if near enough (<= max(1, len/3)), else NULL. */
const char *bs_suggest(const char *word, const char *const *candidates, int n);

#ifdef __cplusplus
}
#endif
#endif
