/* test_simulate_tool.c - runs bs_simulate_dataset for the simulator tests
 * (tests/simulate_check.py) until the CLI's `brainstage simulate` exists.
 *
 *   test_simulate_tool OUT_DIR [subjects=N] [volumes=T] [tr=S] [seed=N]
 *       [effect=F] [within=F] [networks=K] [atlas=PATH] [grid_mm=N]
 *       [dummy=N] [threads=N] [float32=0|1] [voxel_noise=F] [roi_noise=F]
 * Errors: "error: <message>" on stderr, status as exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/log.h"
#include "brainstage/simulate.h"

static const char *arg(int argc, char **argv, const char *key, const char *dflt)
{
    size_t k = strlen(key);
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=')
            return argv[i] + k + 1;
    return dflt;
}

static void log_to_stderr(bs_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "%s: %s\n", level >= BS_LOG_WARN ? "warning" : "info", message);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR [key=value ...]\n", argv[0]);
        return 2;
    }
    bs_log_set_handler(log_to_stderr, NULL);
    bs_log_set_level(BS_LOG_INFO);
    bs_sim_config c;
    bs_sim_config_init(&c);
    c.out_dir = argv[1];
    c.n_subjects = atoi(arg(argc, argv, "subjects", "20"));
    c.n_volumes = atoi(arg(argc, argv, "volumes", "150"));
    c.tr = atof(arg(argc, argv, "tr", "2.0"));
    c.seed = strtoull(arg(argc, argv, "seed", "1"), NULL, 10);
    c.effect_size = atof(arg(argc, argv, "effect", "0.3"));
    c.within_coupling = atof(arg(argc, argv, "within", "0.4"));
    c.n_networks = atoi(arg(argc, argv, "networks", "7"));
    c.atlas_path = arg(argc, argv, "atlas", NULL);
    c.grid_mm = atoi(arg(argc, argv, "grid_mm", "20"));
    c.n_dummy = atoi(arg(argc, argv, "dummy", "0"));
    c.threads = atoi(arg(argc, argv, "threads", "0"));
    c.float32 = atoi(arg(argc, argv, "float32", "0"));
    c.voxel_noise = atof(arg(argc, argv, "voxel_noise", "2.0"));
    c.roi_noise = atof(arg(argc, argv, "roi_noise", "0.3"));
    bs_error err = {0};
    int rc = bs_simulate_dataset(&c, &err);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.message);
        return rc;
    }
    return 0;
}
