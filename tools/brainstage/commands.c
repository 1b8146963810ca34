/* commands.c - the table of CLI commands. */
#include "cli.h"
#include "cli_group.h"

#include <stddef.h>

const bs_cli_command bs_cli_commands[] = {
    {"run", bs_cmd_run},
    {"check", bs_cmd_check},
    {"plugins", bs_cmd_plugins},
    {"plugin", bs_cmd_plugin},
    {"simulate", bs_cmd_simulate},
    {"pretrain", bs_cmd_pretrain},
    {"embed", bs_cmd_embed},
    {"evaluate", bs_cmd_evaluate},
    {"bids", bs_cmd_bids},
    {NULL, NULL},
};
