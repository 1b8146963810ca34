/* cmd_simulate.c - `brainstage simulate OUT_DIR [options]`: an fMRIPrep-shaped
 * synthetic derivatives folder with known ground truth (core/simulate*.c). */
#include "cli.h"
#include "brainstage/simulate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int number(const char *opt, const char *text, double min, double max, double *out)
{
    char *end;
    double v = strtod(text ? text : "", &end);
    if (!text || end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "brainstage: simulate: %s needs a number in %g..%g, got '%s'\n", opt, min, max,
                text ? text : "");
        return BS_ERR_USAGE;
    }
    *out = v;
    return 0;
}

static void simulate_usage(void)
{
    fputs("usage: brainstage simulate OUT_DIR [--subjects N] [--volumes T] [--tr S] [--networks K]\n"
          "         [--effect E] [--within C] [--roi-noise S] [--voxel-noise S] [--motion M]\n"
          "         [--dummy N] [--atlas PATH [--atlas-name NAME]] [--grid-mm MM] [--float32]\n"
          "(the run seed comes from the global --seed option)\n",
          stderr);
}

int bs_cmd_simulate(const bs_cli *cli, int argc, char **argv)
{
    bs_sim_config c;
    bs_sim_config_init(&c);
    c.seed = cli->seed;
    c.threads = cli->threads;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        int rc = 0, takes = 1;
        if (a[0] != '-') {
            if (c.out_dir) {
                fprintf(stderr, "brainstage: simulate: one output folder only, got '%s' and '%s'\n", c.out_dir, a);
                return BS_ERR_USAGE;
            }
            c.out_dir = a;
            takes = 0;
        } else if (!strcmp(a, "--subjects")) {
            if (!(rc = number(a, v, 1, 100000, &x))) c.n_subjects = (int)x;
        } else if (!strcmp(a, "--volumes")) {
            if (!(rc = number(a, v, 10, 100000, &x))) c.n_volumes = (int)x;
        } else if (!strcmp(a, "--tr")) {
            if (!(rc = number(a, v, 0.05, 100, &x))) c.tr = x;
        } else if (!strcmp(a, "--networks")) {
            if (!(rc = number(a, v, 1, 1000, &x))) c.n_networks = (int)x;
        } else if (!strcmp(a, "--effect")) {
            if (!(rc = number(a, v, -1, 1, &x))) c.effect_size = x;
        } else if (!strcmp(a, "--within")) {
            if (!(rc = number(a, v, 0, 0.99, &x))) c.within_coupling = x;
        } else if (!strcmp(a, "--roi-noise")) {
            if (!(rc = number(a, v, 0, 100, &x))) c.roi_noise = x;
        } else if (!strcmp(a, "--voxel-noise")) {
            if (!(rc = number(a, v, 0, 1000, &x))) c.voxel_noise = x;
        } else if (!strcmp(a, "--motion")) {
            if (!(rc = number(a, v, 0, 100, &x))) c.motion_scale = x;
        } else if (!strcmp(a, "--dummy")) {
            if (!(rc = number(a, v, 0, 1000, &x))) c.n_dummy = (int)x;
        } else if (!strcmp(a, "--grid-mm")) {
            if (!(rc = number(a, v, 2, 100, &x))) c.grid_mm = (int)x;
        } else if (!strcmp(a, "--atlas")) {
            if (!(rc = v ? 0 : BS_ERR_USAGE)) c.atlas_path = v;
        } else if (!strcmp(a, "--atlas-name")) {
            if (!(rc = v ? 0 : BS_ERR_USAGE)) c.atlas_name = v;
        } else if (!strcmp(a, "--float32")) {
            c.float32 = 1;
            takes = 0;
        } else {
            fprintf(stderr, "brainstage: simulate: unknown option '%s'\n", a);
            simulate_usage();
            return BS_ERR_USAGE;
        }
        if (rc) {
            if (!v)
                fprintf(stderr, "brainstage: simulate: %s needs a value\n", a);
            return BS_ERR_USAGE;
        }
        i += takes;
    }
    if (!c.out_dir) {
        simulate_usage();
        return BS_ERR_USAGE;
    }
    bs_error err = {0};
    if (bs_simulate_dataset(&c, &err))
        return bs_cli_fail(&err);
    if (!cli->quiet)
        printf("simulated %d subjects x %d volumes (TR %.3g s) in %s\n", c.n_subjects, c.n_volumes, c.tr, c.out_dir);
    return 0;
}
