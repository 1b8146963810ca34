/* cmd_plugins.c - `brainstage plugins` and `brainstage plugin NAME`. */
#include "cli.h"
#include "brainstage/params.h"

#include <stdio.h>
#include <string.h>

int bs_cmd_plugins(const bs_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "brainstage: plugins takes no arguments\n");
        return BS_ERR_USAGE;
    }
    bs_registry *reg = bs_cli_registry();
    if (!reg)
        return BS_ERR_NOMEM;
    printf("search path: %s\n", bs_registry_default_path());
    for (int i = 0; i < bs_registry_count(reg); i++) {
        const bs_plugin *p = bs_registry_get(reg, i);
        printf("  %-16s %-8s %s\n", p->name, p->version ? p->version : "", p->summary ? p->summary : "");
        if (cli->verbose)
            printf("  %-16s from %s\n", "", bs_registry_origin(reg, i));
    }
    int problems = bs_registry_problem_count(reg);
    for (int i = 0; i < problems; i++)
        fprintf(stderr, "brainstage: warning: %s\n", bs_registry_problem(reg, i));
    if (bs_registry_count(reg) == 0)
        fprintf(stderr, "brainstage: warning: no plugins found; set BRAINSTAGE_PLUGIN_PATH\n");
    bs_registry_free(reg);
    return 0;
}

static void print_ports(const char *title, const bs_port_desc *ports, uint32_t n)
{
    printf("%s:\n", title);
    if (n == 0)
        printf("  (none)\n");
    for (uint32_t i = 0; i < n; i++)
        printf("  %-14s %-13s %s%s\n", ports[i].name, bs_port_kind_name(ports[i].kind),
               ports[i].optional ? "(optional) " : "", ports[i].help ? ports[i].help : "");
}

int bs_cmd_plugin(const bs_cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc != 1) {
        fprintf(stderr, "brainstage: plugin needs exactly one stage type name\n");
        return BS_ERR_USAGE;
    }
    bs_registry *reg = bs_cli_registry();
    if (!reg)
        return BS_ERR_NOMEM;
    const bs_plugin *p = bs_registry_find(reg, argv[0]);
    if (!p) {
        const char *hint = bs_registry_suggest(reg, argv[0]);
        fprintf(stderr, "brainstage: error: unknown stage type '%s'%s%s%s\n", argv[0], hint ? " (did you mean '" : "",
                hint ? hint : "", hint ? "'?)" : "");
        bs_registry_free(reg);
        return BS_ERR_PLUGIN;
    }
    int idx = 0;
    while (bs_registry_get(reg, idx) != p)
        idx++;
    printf("%s %s - %s\n", p->name, p->version ? p->version : "", p->summary ? p->summary : "");
    printf("module: %s (ABI %u.%u)\n\n", bs_registry_origin(reg, idx), p->abi_major, p->abi_minor);
    print_ports("inputs", p->inputs, p->n_inputs);
    print_ports("outputs", p->outputs, p->n_outputs);
    printf("parameters:\n");
    if (p->n_params == 0)
        printf("  (none)\n");
    for (uint32_t i = 0; i < p->n_params; i++) {
        const bs_param_desc *d = &p->params[i];
        char range[96] = "";
        if (d->type == BS_PARAM_ENUM)
            snprintf(range, sizeof range, " {%s}", d->choices);
        else if (d->min <= d->max && (d->type == BS_PARAM_INT || d->type == BS_PARAM_DOUBLE || d->type == BS_PARAM_DOUBLE_LIST))
            snprintf(range, sizeof range, " [%g..%g]", d->min, d->max);
        printf("  %-14s %-11s default %-10s%s\n      %s\n", d->name, bs_param_type_name(d->type),
               d->default_value ? d->default_value : "(required)", range, d->help ? d->help : "");
    }
    bs_registry_free(reg);
    return 0;
}
