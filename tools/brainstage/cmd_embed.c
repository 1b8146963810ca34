/* cmd_embed.c - `brainstage embed brainmass|brainmae`: one embedding row per
 * subject from a pretrained checkpoint, written as a features TSV whose
 * first column is participant_id (the input of `brainstage evaluate`).
 *
 * BrainMass embeds the Pearson FC of each whole run; BrainMAE embeds every
 * whole sample of a run and averages them (bs_brainmae_infer).  A subject
 * with several runs (sessions, runs) gets the mean of its runs' vectors. */
#include "cli_group.h"
#include "brainstage/brainmae.h"
#include "brainstage/brainmass.h"
#include "brainstage/fc.h"
#include "brainstage/log.h"
#include "brainstage/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void embed_usage(void)
{
    fputs("usage: brainstage embed brainmass|brainmae --weights CKPT.safetensors --inputs DIR|GLOB|FILE...\n"
          "         --out FEATURES.tsv [--tr S] [--suffix SUFFIX]\n",
          stderr);
}

/* Pearson FC of one run, undefined ROIs (NaN, constant) as zero rows. */
static int run_fc(const bs_group_series *s, float *fc, bs_error *err)
{
    const int R = s->R;
    float *ts = bs_alloc_floats((size_t)s->T * R);
    if (!ts)
        return BS_ERR_NOMEM;
    memcpy(ts, s->ts, sizeof(float) * (size_t)s->T * R);
    for (int c = 0; c < R; c++) {
        int bad = 0;
        for (int64_t t = 0; t < s->T && !bad; t++)
            bad = !isfinite(ts[t * R + c]);
        if (bad)
            for (int64_t t = 0; t < s->T; t++)
                ts[t * R + c] = 0.0f;
    }
    bs_fc_options o;
    bs_fc_options_init(&o);
    int rc = bs_fc_compute(ts, s->T, R, &o, fc, NULL, NULL, err);
    bs_free(ts);
    if (rc == BS_OK)
        for (size_t k = 0; k < (size_t)R * R; k++)
            if (!isfinite(fc[k]))
                fc[k] = 0.0f;
    return rc;
}

int bs_cmd_embed(const bs_cli *cli, int argc, char **argv)
{
    const char *cmd = "embed", *weights = NULL, *out = NULL, *suffix = BS_GROUP_TS_SUFFIX;
    double tr = 0;
    bs_strlist inputs = {0};
    if (argc < 1 || (strcmp(argv[0], "brainmass") && strcmp(argv[0], "brainmae"))) {
        embed_usage();
        return BS_ERR_USAGE;
    }
    const int is_mass = !strcmp(argv[0], "brainmass");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--inputs")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                bs_strlist_push(&inputs, argv[++i]);
            continue;
        }
        if (!v) {
            fprintf(stderr, "brainstage: embed: %s needs a value\n", o);
            bs_strlist_free(&inputs);
            return BS_ERR_USAGE;
        }
        i++;
        if (!strcmp(o, "--weights")) weights = v;
        else if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--suffix")) suffix = v;
        else if (!strcmp(o, "--tr")) {
            if (bs_group_opt_double(cmd, o, v, 1e-3, 1e3, &tr)) {
                bs_strlist_free(&inputs);
                return BS_ERR_USAGE;
            }
        } else {
            fprintf(stderr, "brainstage: embed: unknown option '%s'\n", o);
            embed_usage();
            bs_strlist_free(&inputs);
            return BS_ERR_USAGE;
        }
    }
    if (!weights || !out || !inputs.n) {
        fprintf(stderr, "brainstage: embed: --weights, --inputs and --out are required\n");
        bs_strlist_free(&inputs);
        return BS_ERR_USAGE;
    }

    bs_error err = {0};
    bs_strlist files = {0};
    bs_group_series *s = NULL;
    int n = 0, rc = BS_OK;
    for (int i = 0; i < inputs.n && rc == BS_OK; i++)
        rc = bs_group_expand_inputs(inputs.items[i], suffix, &files, &err);
    if (rc == BS_OK) {
        bs_group_unique(&files);
        rc = bs_group_read_series(&files, tr, &s, &n, &err);
    }
    bs_strlist_free(&files);
    bs_strlist_free(&inputs);

    bs_brainmass *mass = NULL;
    bs_brainmae *mae = NULL;
    int64_t d = 0;
    if (rc == BS_OK && is_mass) {
        if (!(mass = bs_brainmass_load(weights, BS_BRAINMASS_LOAD_INFERENCE, &err)))
            rc = err.code ? err.code : BS_ERR_IO;
        else if (bs_brainmass_get_config(mass)->rois != s[0].R)
            rc = bs_error_set(&err, BS_ERR_DATA, "%s: model has %d ROIs, %s has %d", weights,
                              bs_brainmass_get_config(mass)->rois, s[0].path, s[0].R);
        else
            d = bs_brainmass_embed_dim(mass);
    } else if (rc == BS_OK) {
        if (!(mae = bs_brainmae_load(weights, &err)))
            rc = err.code ? err.code : BS_ERR_IO;
        else
            d = bs_brainmae_get_config(mae)->d_model;
    }

    /* subjects in sorted order; runs of one subject are adjacent (paths sorted) */
    float *X = NULL, *row = NULL, *fc = NULL;
    char **ids = NULL;
    int n_sub = 0;
    if (rc == BS_OK) {
        X = bs_alloc_floats((size_t)n * d);
        row = bs_alloc_floats((size_t)d);
        fc = is_mass ? bs_alloc_floats((size_t)s[0].R * s[0].R) : NULL;
        ids = calloc((size_t)n, sizeof *ids);
        if (!X || !row || !ids || (is_mass && !fc))
            rc = bs_error_set(&err, BS_ERR_NOMEM, "embed: out of memory");
    }
    int *runs = rc == BS_OK ? calloc((size_t)n, sizeof *runs) : NULL;
    if (rc == BS_OK && !runs)
        rc = BS_ERR_NOMEM;
    if (rc == BS_OK)
        bs_progress_begin("embed", n);
    for (int u = 0; u < n && rc == BS_OK; u++) {
        if (is_mass) {
            rc = run_fc(&s[u], fc, &err);
            if (rc == BS_OK)
                rc = bs_brainmass_embed(mass, fc, 1, row, &err);
        } else {
            bs_brainmae_subject sub = {s[u].ts, s[u].T, s[u].R, s[u].tr, s[u].path};
            bs_brainmae_prepared p;
            bs_brainmae_inference inf;
            if (!(s[u].tr > 0))
                rc = bs_error_set(&err, BS_ERR_USAGE,
                                  "%s: no RepetitionTime (no JSON sidecar next to the TSV): give --tr SECONDS", s[u].path);
            if (rc == BS_OK && (rc = bs_brainmae_prepare(bs_brainmae_get_config(mae), &sub, &p, &err)) == BS_OK) {
                rc = bs_brainmae_infer(mae, &p, 0.0, cli->seed, &inf, &err);
                if (rc == BS_OK) {
                    memcpy(row, inf.subject_embed, sizeof(float) * (size_t)d);
                    bs_brainmae_inference_free(&inf);
                }
                bs_brainmae_prepared_free(&p);
            }
        }
        if (rc)
            break;
        int k = n_sub - 1;
        if (k < 0 || strcmp(ids[k], s[u].participant)) {
            k = n_sub++;
            ids[k] = s[u].participant;
        }
        float *dst = X + (size_t)k * d;
        runs[k]++;
        for (int64_t j = 0; j < d; j++) /* running mean over the subject's runs */
            dst[j] += (row[j] - dst[j]) / (float)runs[k];
        bs_progress_update(u + 1);
    }
    if (X)
        bs_progress_end();
    if (rc == BS_OK)
        rc = bs_group_mkparent(out, &err);
    if (rc == BS_OK)
        rc = bs_group_write_features(out, n_sub, d, X, (const char *const *)ids, is_mass ? "brainmass_" : "brainmae_",
                                     &err);
    bs_free(X);
    bs_free(row);
    bs_free(fc);
    free(ids);
    free(runs);
    bs_brainmass_free(mass);
    bs_brainmae_free(mae);
    bs_group_series_free(s, n);
    if (rc)
        return bs_cli_fail(&err);
    if (!cli->quiet)
        printf("embed %s: %d subjects x %lld features -> %s\n", is_mass ? "brainmass" : "brainmae", n_sub, (long long)d,
               out);
    return 0;
}
