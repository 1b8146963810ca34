/* brainstage/plugin.h - the versioned stage-plugin ABI.
 *
 * A plugin module is a shared object that exports one symbol,
 *
 *     const bs_plugin *bs_plugin_entry(uint32_t index);
 *
 * returning its stage descriptors for index = 0, 1, ... and NULL after the
 * last.  The host checks abi_major for equality and abi_minor for <= its own,
 * and reads only the first struct_size bytes of a descriptor, so a descriptor
 * built against an older minor version stays loadable.
 *
 * Lifecycle of a stage in a pipeline run:
 *   create(config)  - config is a struct the HOST filled from the pipeline
 *                     file using the parameter table (validated: type,
 *                     range, enum choices); strings in it stay valid until
 *                     destroy.
 *   negotiate(...)  - optional: check input kinds/shapes at link time.
 *   process(in,out) - once per run; inputs in port order, the stage fills one
 *                     bs_data per output port (ownership goes to the host).
 *   finalize()      - optional: flush, rename temporary outputs into place.
 *   destroy()       - always called if create succeeded.
 *
 * Plugins report every failure through bs_error and return its status; they
 * never print (use bs_log from brainstage/log.h) and never call exit(). */
#ifndef BRAINSTAGE_PLUGIN_H
#define BRAINSTAGE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include "brainstage/data.h"
#include "brainstage/error.h"
#include "brainstage/log.h"
#include "brainstage/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BS_PLUGIN_ABI_MAJOR 1u
#define BS_PLUGIN_ABI_MINOR 0u
#define BS_PLUGIN_ENTRY_SYMBOL "bs_plugin_entry"

typedef enum bs_param_type {
    BS_PARAM_INT = 1,         /* config field: int64_t */
    BS_PARAM_DOUBLE = 2,      /* config field: double */
    BS_PARAM_BOOL = 3,        /* config field: int (0/1); yes/no/true/false/1/0 */
    BS_PARAM_STRING = 4,      /* config field: const char * */
    BS_PARAM_ENUM = 5,        /* config field: const char *, one of `choices` */
    BS_PARAM_PATH = 6,        /* config field: const char * (a file path) */
    BS_PARAM_DOUBLE_LIST = 7  /* config field: bs_double_list; "0.01,0.08" */
} bs_param_type;

#define BS_DOUBLE_LIST_MAX 16
typedef struct bs_double_list {
    int n;
    double v[BS_DOUBLE_LIST_MAX];
} bs_double_list;

typedef struct bs_param_desc {
    const char *name;
    bs_param_type type;
    const char *default_value; /* as it would be written in a pipeline; NULL = required */
    double min, max;           /* numeric bounds (inclusive); ignored when min > max */
    const char *choices;       /* ENUM only: "pearson|partial|tangent" */
    const char *help;          /* one line */
    size_t offset;             /* offsetof(config struct, field) */
} bs_param_desc;

typedef struct bs_port_desc {
    const char *name;   /* pipeline key: `input=STAGE` binds port "input" */
    bs_port_kind kind;
    int optional;       /* input ports only */
    const char *help;
} bs_port_desc;

/* What the host tells a stage about its run context. */
typedef struct bs_host {
    uint32_t struct_size;
    int threads;            /* worker threads the stage may use (>= 1) */
    uint64_t seed;          /* run seed; stages derive their own streams */
    int quiet;              /* no progress output wanted */
    const char *stage_name; /* name in the pipeline file */
} bs_host;

/* Shape information for link-time negotiation; -1 = not known yet. */
typedef struct bs_data_info {
    bs_port_kind kind;
    int ndim;
    int64_t shape[BS_TENSOR_MAX_DIMS];
} bs_data_info;

typedef struct bs_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size; /* sizeof(bs_plugin) the module was built with */
    const char *name;     /* stage type used in pipeline files */
    const char *version;
    const char *summary;  /* one line */
    const bs_port_desc *inputs;
    uint32_t n_inputs;
    const bs_port_desc *outputs;
    uint32_t n_outputs;
    const bs_param_desc *params;
    uint32_t n_params;
    size_t config_size;

    void *(*create)(const void *config, const bs_host *host, bs_error *err);
    int (*negotiate)(void *self, const bs_data_info *inputs, bs_data_info *outputs, bs_error *err);
    int (*process)(void *self, bs_data *const *inputs, bs_data **outputs, bs_error *err);
    int (*finalize)(void *self, bs_error *err);
    void (*destroy)(void *self);
} bs_plugin;

typedef const bs_plugin *(*bs_plugin_entry_fn)(uint32_t index);

/* Convenience initialiser for the ABI header fields. */
#define BS_PLUGIN_HEADER \
    .abi_major = BS_PLUGIN_ABI_MAJOR, .abi_minor = BS_PLUGIN_ABI_MINOR, .struct_size = sizeof(bs_plugin)

#define BS_COUNT_OF(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

#ifdef __cplusplus
}
#endif
#endif
