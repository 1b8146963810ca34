/* brainstage/params.h - filling a plugin's config struct from text values.
 *
 * The host owns the config: bs_config_new() allocates config_size bytes,
 * applies every parameter's default, then bs_config_set() applies the
 * pipeline's key=value pairs with type, range and choice checks.  Strings
 * placed in the config stay valid until bs_config_free(). */
#ifndef BRAINSTAGE_PARAMS_H
#define BRAINSTAGE_PARAMS_H

#include "brainstage/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_config bs_config;

/* Defaults applied; err names the plugin when a default itself is invalid. */
bs_config *bs_config_new(const bs_plugin *plugin, bs_error *err);
void bs_config_free(bs_config *cfg);
/* Unknown key -> BS_ERR_USAGE with "did you mean"; bad value -> BS_ERR_USAGE
 * naming the parameter, the value and what was expected. */
int bs_config_set(bs_config *cfg, const char *key, const char *value, bs_error *err);
/* BS_ERR_USAGE naming the first required parameter (no default) left unset. */
int bs_config_check_required(const bs_config *cfg, bs_error *err);
const void *bs_config_data(const bs_config *cfg);
const bs_param_desc *bs_plugin_find_param(const bs_plugin *plugin, const char *name);

/* Parses and checks one value into field (the config struct at desc->offset).
 * *owned receives a heap string the caller must keep alive (string types). */
int bs_param_parse(const bs_param_desc *desc, const char *text, void *field, char **owned, bs_error *err);
/* Text for a parameter's type ("int", "double", "bool", "path", ...). */
const char *bs_param_type_name(bs_param_type type);
/* Size of the config field for a type, 0 if the type is unknown. */
size_t bs_param_field_size(bs_param_type type);

#ifdef __cplusplus
}
#endif
#endif
