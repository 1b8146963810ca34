/* brainstage/pipeline.h - pipeline files: parsing, linking, running.
 *
 * Syntax (full reference: docs/pipeline-files.md):
 *
 *     # comment
 *     stage NAME TYPE key=value key="quoted value" ...
 *     sink  FROM TYPE key=value ...        # = anonymous stage with input=FROM
 *
 * A key that names an input port of TYPE binds an edge (value = producing
 * stage, or stage.port); any other key is a parameter.  ${var} takes the
 * value given on the command line (var=value); ${var:-default} falls back to
 * default; $$ is a literal $.  A trailing backslash continues a line.
 * Every error reads "file:line:col: message". */
#ifndef BRAINSTAGE_PIPELINE_H
#define BRAINSTAGE_PIPELINE_H

#include "brainstage/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_pipeline_arg {
    char *key;
    char *value;      /* after ${var} substitution */
    int line, col;    /* where the key starts */
    int value_col;    /* where the value starts */
} bs_pipeline_arg;

typedef struct bs_pipeline_stage {
    char *name;
    char *type;
    int line, col;        /* of the statement keyword */
    int type_col;
    int name_col;
    int n_args;
    bs_pipeline_arg *args;
} bs_pipeline_stage;

typedef struct bs_pipeline {
    char *path;
    int n_stages;
    bs_pipeline_stage *stages;
} bs_pipeline;

/* vars: n strings "key=value". */
bs_pipeline *bs_pipeline_parse_file(const char *path, int n_vars, const char *const *vars, bs_error *err);
bs_pipeline *bs_pipeline_parse_string(const char *text, const char *origin, int n_vars,
                                      const char *const *vars, bs_error *err);
void bs_pipeline_free(bs_pipeline *p);

/* A linked pipeline: types resolved, parameters validated into configs,
 * edges checked for kinds, DAG sorted.  Nothing is created or run yet. */
typedef struct bs_graph bs_graph;

bs_graph *bs_graph_link(const bs_pipeline *p, const bs_registry *reg, bs_error *err);
void bs_graph_free(bs_graph *g);
int bs_graph_stage_count(const bs_graph *g);
/* Stage names in execution order. */
const char *bs_graph_stage_name(const bs_graph *g, int order_index);

typedef struct bs_run_options {
    int threads;
    uint64_t seed;
    int quiet;
} bs_run_options;

/* Creates every stage, processes them in order, then finalizes all (sinks
 * move their outputs into place only then, so a failed run leaves no
 * outputs).  Errors are prefixed with "file:line:col: stage NAME: ". */
int bs_graph_run(bs_graph *g, const bs_run_options *opt, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
