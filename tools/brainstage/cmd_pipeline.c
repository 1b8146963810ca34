/* cmd_pipeline.c - `brainstage run` and `brainstage check`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses and links PIPELINE with var=value arguments; NULL on error (printed). */
static bs_graph *load(int argc, char **argv, const char *cmd, bs_registry **reg_out, bs_pipeline **p_out, int *status)
{
    bs_error err = {0};
    if (argc < 1) {
        fprintf(stderr, "brainstage: %s needs a pipeline file (see brainstage --help)\n", cmd);
        *status = BS_ERR_USAGE;
        return NULL;
    }
    for (int i = 1; i < argc; i++)
        if (!strchr(argv[i], '=') || argv[i][0] == '=') {
            fprintf(stderr, "brainstage: %s: argument '%s' must be a variable assignment name=value\n", cmd, argv[i]);
            *status = BS_ERR_USAGE;
            return NULL;
        }
    char *path = bs_cli_find_pipeline(argv[0]);
    if (!path) {
        *status = BS_ERR_NOMEM;
        return NULL;
    }
    bs_pipeline *p = bs_pipeline_parse_file(path, argc - 1, (const char *const *)(argv + 1), &err);
    free(path);
    if (!p) {
        *status = bs_cli_fail(&err);
        return NULL;
    }
    bs_registry *reg = bs_cli_registry();
    if (!reg) {
        bs_pipeline_free(p);
        *status = BS_ERR_NOMEM;
        return NULL;
    }
    bs_graph *g = bs_graph_link(p, reg, &err);
    if (!g) {
        *status = bs_cli_fail(&err);
        bs_registry_free(reg);
        bs_pipeline_free(p);
        return NULL;
    }
    *reg_out = reg;
    *p_out = p;
    return g;
}

int bs_cmd_check(const bs_cli *cli, int argc, char **argv)
{
    bs_registry *reg = NULL;
    bs_pipeline *p = NULL;
    int status = 0;
    bs_graph *g = load(argc, argv, "check", &reg, &p, &status);
    if (!g)
        return status;
    if (!cli->quiet) {
        printf("%s: ok, %d stages:", p->path, bs_graph_stage_count(g));
        for (int k = 0; k < bs_graph_stage_count(g); k++)
            printf(" %s", bs_graph_stage_name(g, k));
        printf("\n");
    }
    bs_graph_free(g);
    bs_registry_free(reg);
    bs_pipeline_free(p);
    return 0;
}

int bs_cmd_run(const bs_cli *cli, int argc, char **argv)
{
    bs_registry *reg = NULL;
    bs_pipeline *p = NULL;
    int status = 0;
    bs_graph *g = load(argc, argv, "run", &reg, &p, &status);
    if (!g)
        return status;
    bs_run_options opt = {cli->threads, cli->seed, cli->quiet};
    bs_error err = {0};
    int rc = bs_graph_run(g, &opt, &err);
    /* Destroying stages removes any temporary outputs of a failed run. */
    bs_graph_free(g);
    bs_registry_free(reg);
    bs_pipeline_free(p);
    return rc ? bs_cli_fail(&err) : 0;
}
