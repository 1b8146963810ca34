/* cli.h - shared state and the command table of the brainstage CLI. */
#ifndef BRAINSTAGE_CLI_H
#define BRAINSTAGE_CLI_H

#include "brainstage/pipeline.h"

typedef struct bs_cli {
    int threads;     /* 0 = library default (all cores) */
    uint64_t seed;
    int quiet;
    int verbose;
} bs_cli;

typedef struct bs_cli_command {
    const char *name;
    int (*run)(const bs_cli *cli, int argc, char **argv);
} bs_cli_command;

extern const bs_cli_command bs_cli_commands[];

/* Installs log/progress handlers and the thread count. */
void bs_cli_setup(const bs_cli *cli);
/* Prints "brainstage: <message>" on one line and returns the status. */
int bs_cli_fail(const bs_error *err);
/* Scans the plugin search path; the caller frees the registry. */
bs_registry *bs_cli_registry(void);
/* Resolves a pipeline argument: an existing path, else a shipped pipeline
 * NAME(.pipeline) under $BRAINSTAGE_DATA_DIR/pipelines or the install dir.
 * Returns a malloc'd path or NULL. */
char *bs_cli_find_pipeline(const char *arg);
/* printf-style allocation; NULL on failure. */
char *bs_cli_strf(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* Copy of the `_`-separated parts of a BIDS name whose key is not in drop
 * (NULL-terminated list of keys without '-'); parts without a '-' (the
 * suffix) are kept if keep_bare, else dropped.  NULL on allocation failure. */
char *bs_cli_filter_entities(const char *name, const char *const *drop, int keep_bare);

int bs_cmd_run(const bs_cli *cli, int argc, char **argv);
int bs_cmd_check(const bs_cli *cli, int argc, char **argv);
int bs_cmd_plugins(const bs_cli *cli, int argc, char **argv);
int bs_cmd_plugin(const bs_cli *cli, int argc, char **argv);
int bs_cmd_simulate(const bs_cli *cli, int argc, char **argv);

#endif
