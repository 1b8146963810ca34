/* cmd_pretrain.c - `brainstage pretrain brainmass|brainmae`: group-level
 * self-supervised pretraining on the cleaned ROI time series of a cohort.
 *
 * BrainMass learns from pairs of pseudo-FC views: each step draws, per batch
 * item, one run (seeded) and two pFC samples of it from that run's pFC
 * generator.  BrainMAE learns from masked segments of the series themselves
 * (bs_brainmae_prepare + bs_brainmae_pretrain).  Defaults are small so that
 * the demo cohort trains in well under a minute on two cores; the paper
 * shapes are reachable through the options. */
#include "cli_group.h"
#include "brainstage/brainmae.h"
#include "brainstage/brainmass.h"
#include "brainstage/fileio.h"
#include "brainstage/log.h"
#include "brainstage/pfc.h"
#include "brainstage/rng.h"
#include "brainstage/safetensors.h"
#include "brainstage/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pretrain_args {
    const char *model;
    bs_strlist inputs;
    const char *suffix;
    const char *out, *resume, *loss_log, *init;
    long long steps, batch, depth, heads, ffn, feat, checkpoint_every, warmup, segments, epochs;
    double lr, window_s, tr, keep;
    double dropout; /* < 0: the model's default (BrainMass 0.1, BrainMAE 0) */
} pretrain_args;

static void pretrain_usage(void)
{
    fputs("usage: brainstage pretrain brainmass|brainmae --inputs DIR|GLOB|FILE... --out CKPT.safetensors\n"
          "         [--steps N] [--epochs N] [--batch B] [--lr LR] [--warmup N] [--depth D] [--heads H]\n"
          "         [--ffn F] [--feat F] [--dropout P] [--keep FRACTION] [--window-s S] [--segments S] [--tr S]\n"
          "         [--resume CKPT] [--init CKPT] [--checkpoint-every N] [--loss-log TSV] [--suffix SUFFIX]\n"
          "Inputs are ROI time-series TSVs (default: files named *" BS_GROUP_TS_SUFFIX "); see docs/group-level.md.\n",
          stderr);
}

/* Parses the options shared by pretrain; returns 0 or a usage status. */
static int parse_args(int argc, char **argv, pretrain_args *a)
{
    const char *cmd = "pretrain";
    if (argc < 1 || argv[0][0] == '-') {
        pretrain_usage();
        return BS_ERR_USAGE;
    }
    a->model = argv[0];
    if (strcmp(a->model, "brainmass") && strcmp(a->model, "brainmae")) {
        fprintf(stderr, "brainstage: pretrain: unknown model '%s' (expected brainmass or brainmae)\n", a->model);
        return BS_ERR_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(o, "--inputs")) {
            if (!v || v[0] == '-') {
                fprintf(stderr, "brainstage: pretrain: --inputs needs at least one folder, pattern or file\n");
                return BS_ERR_USAGE;
            }
            /* shell-expanded globs arrive as many arguments */
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                if (bs_strlist_push(&a->inputs, argv[++i]))
                    return BS_ERR_NOMEM;
            continue;
        }
        if (!v) {
            fprintf(stderr, "brainstage: pretrain: %s needs a value\n", o);
            return BS_ERR_USAGE;
        }
        i++;
        if (!strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--resume")) a->resume = v;
        else if (!strcmp(o, "--init")) a->init = v;
        else if (!strcmp(o, "--loss-log")) a->loss_log = v;
        else if (!strcmp(o, "--suffix")) a->suffix = v;
        else if (!strcmp(o, "--steps")) rc = bs_group_opt_int(cmd, o, v, 1, 100000000, &a->steps);
        else if (!strcmp(o, "--epochs")) rc = bs_group_opt_int(cmd, o, v, 1, 1000000, &a->epochs);
        else if (!strcmp(o, "--batch")) rc = bs_group_opt_int(cmd, o, v, 1, 65536, &a->batch);
        else if (!strcmp(o, "--depth")) rc = bs_group_opt_int(cmd, o, v, 1, 256, &a->depth);
        else if (!strcmp(o, "--heads")) rc = bs_group_opt_int(cmd, o, v, 1, 4096, &a->heads);
        else if (!strcmp(o, "--ffn")) rc = bs_group_opt_int(cmd, o, v, 1, 1 << 20, &a->ffn);
        else if (!strcmp(o, "--feat")) rc = bs_group_opt_int(cmd, o, v, 1, 1 << 20, &a->feat);
        else if (!strcmp(o, "--segments")) rc = bs_group_opt_int(cmd, o, v, 1, 4096, &a->segments);
        else if (!strcmp(o, "--warmup")) rc = bs_group_opt_int(cmd, o, v, 0, 100000000, &a->warmup);
        else if (!strcmp(o, "--checkpoint-every")) rc = bs_group_opt_int(cmd, o, v, 0, 100000000, &a->checkpoint_every);
        else if (!strcmp(o, "--lr")) rc = bs_group_opt_double(cmd, o, v, 1e-12, 10, &a->lr);
        else if (!strcmp(o, "--window-s")) rc = bs_group_opt_double(cmd, o, v, 1e-3, 1e6, &a->window_s);
        else if (!strcmp(o, "--tr")) rc = bs_group_opt_double(cmd, o, v, 1e-3, 1e3, &a->tr);
        else if (!strcmp(o, "--keep")) rc = bs_group_opt_double(cmd, o, v, 0.05, 1, &a->keep);
        else if (!strcmp(o, "--dropout")) rc = bs_group_opt_double(cmd, o, v, 0, 0.95, &a->dropout);
        else {
            fprintf(stderr, "brainstage: pretrain: unknown option '%s'\n", o);
            pretrain_usage();
            return BS_ERR_USAGE;
        }
        if (rc)
            return rc;
    }
    if (!a->inputs.n || !a->out) {
        fprintf(stderr, "brainstage: pretrain: --inputs and --out are required\n");
        return BS_ERR_USAGE;
    }
    return 0;
}

/* Loads every input series (sorted, de-duplicated). */
static int load_inputs(const pretrain_args *a, bs_group_series **s, int *n, bs_error *err)
{
    bs_strlist files = {0};
    int rc = BS_OK;
    for (int i = 0; i < a->inputs.n && rc == BS_OK; i++)
        rc = bs_group_expand_inputs(a->inputs.items[i], a->suffix ? a->suffix : BS_GROUP_TS_SUFFIX, &files, err);
    if (rc == BS_OK) {
        bs_group_unique(&files);
        rc = bs_group_read_series(&files, a->tr, s, n, err);
    }
    bs_strlist_free(&files);
    return rc;
}

/* ---- BrainMass ---- */

/* A distinct pFC seed per run (splitmix64 finaliser of seed + run). */
static uint64_t run_seed(uint64_t seed, uint64_t run)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (run + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct pfc_source {
    bs_pfc_generator **gens;
    int n;
    uint64_t seed;
    float *scratch;     /* R*R */
} pfc_source;

/* Batch item b of step s reads run u (drawn from stream s*batch+b) and its
 * pFC samples 2k and 2k+1 with k = s*batch+b: every view is new and the
 * whole stream depends only on the seed. */
static int pfc_batch(void *user, int64_t step, int batch, int rois, float *view1, float *view2, bs_error *err)
{
    pfc_source *src = user;
    const size_t rr = (size_t)rois * (size_t)rois;
    for (int b = 0; b < batch; b++) {
        uint64_t item = (uint64_t)step * (uint64_t)batch + (uint64_t)b;
        bs_rng *rng = bs_rng_derive(src->seed, item);
        if (!rng)
            return bs_error_set(err, BS_ERR_NOMEM, "pretrain: out of memory");
        int u = (int)bs_rng_uniform_int(rng, (uint64_t)src->n);
        bs_rng_free(rng);
        int rc = bs_pfc_compute(src->gens[u], (int64_t)(2 * item), 1, view1 + (size_t)b * rr, err);
        if (!rc)
            rc = bs_pfc_compute(src->gens[u], (int64_t)(2 * item + 1), 1, view2 + (size_t)b * rr, err);
        if (rc)
            return rc;
    }
    return BS_OK;
}

/* ROIs with any non-finite value (low coverage, NaN columns) become 0:
 * the pFC generator then gives them zero rows, the reference's NaN -> 0. */
static int64_t zero_nonfinite_columns(float *ts, int64_t T, int R)
{
    int64_t zeroed = 0;
    for (int c = 0; c < R; c++) {
        int bad = 0;
        for (int64_t t = 0; t < T && !bad; t++)
            bad = !isfinite(ts[t * R + c]);
        if (bad) {
            for (int64_t t = 0; t < T; t++)
                ts[t * R + c] = 0.0f;
            zeroed++;
        }
    }
    return zeroed;
}

static int pretrain_brainmass(const bs_cli *cli, const pretrain_args *a, bs_group_series *s, int n, bs_error *err)
{
    const int R = s[0].R;
    bs_brainmass_train_config tc;
    bs_brainmass_train_config_default(&tc);
    bs_brainmass_config_small(&tc.model, R);
    tc.model.dropout = a->dropout >= 0 ? (float)a->dropout : 0.1f;
    if (a->depth) tc.model.depth = (int)a->depth;
    if (a->heads) tc.model.heads = (int)a->heads;
    if (a->ffn) tc.model.ffn = (int)a->ffn;
    if (a->feat) tc.model.feature_dim = (int)a->feat;
    tc.batch = a->batch ? (int)a->batch : 16;
    tc.steps = a->steps ? a->steps : 60;
    tc.lr = a->lr > 0 ? a->lr : 1e-3;
    tc.warmup_steps = a->warmup ? a->warmup : (tc.steps >= 10 ? tc.steps / 10 : 0);
    tc.seed = cli->seed;
    tc.checkpoint = a->out;
    tc.checkpoint_every = a->checkpoint_every;
    tc.loss_log = a->loss_log;
    tc.resume = a->resume;
    tc.init_weights = a->init;
    if (!a->resume && bs_brainmass_config_validate(&tc.model, err))
        return err->code;

    pfc_source src = {calloc((size_t)n, sizeof(bs_pfc_generator *)), n, cli->seed ^ 0x5046435649455753ull, NULL};
    if (!src.gens)
        return bs_error_set(err, BS_ERR_NOMEM, "pretrain: out of memory");
    int rc = BS_OK;
    for (int u = 0; u < n && rc == BS_OK; u++) {
        int64_t z = zero_nonfinite_columns(s[u].ts, s[u].T, R);
        if (z)
            bs_log(BS_LOG_INFO, "%s: %lld ROI(s) with missing values set to 0", s[u].path, (long long)z);
        bs_pfc_options po;
        bs_pfc_options_default(&po);
        if (a->keep > 0)
            po.keep_min = po.keep_max = a->keep;
        po.constant_roi = BS_PFC_CONSTANT_ZERO;
        po.seed = run_seed(cli->seed, (uint64_t)u);
        po.threads = 1;
        src.gens[u] = bs_pfc_generator_new(s[u].ts, s[u].T, R, &po, s[u].path, err);
        if (!src.gens[u])
            rc = err->code ? err->code : BS_ERR_INTERNAL;
    }
    if (rc == BS_OK) {
        if (!cli->quiet)
            bs_log(BS_LOG_INFO, "brainmass: %d runs, %d ROIs, depth %d, %d heads, %lld steps of %d", n, R,
                   tc.model.depth, tc.model.heads, (long long)tc.steps, tc.batch);
        rc = bs_brainmass_pretrain(&tc, pfc_batch, &src, err);
    }
    for (int u = 0; u < n; u++)
        bs_pfc_generator_free(src.gens[u]);
    free(src.gens);
    return rc;
}

/* ---- BrainMAE ---- */

/* Copies `from` to `to` atomically (resume from a checkpoint elsewhere). */
static int copy_file(const char *from, const char *to, bs_error *err)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open the checkpoint to resume from", from);
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, to, err);
    if (rc) {
        fclose(in);
        return rc;
    }
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, f.fp) != k)
            break;
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        bs_atomic_abort(&f);
        return bs_error_set(err, BS_ERR_IO, "%s: read error", from);
    }
    return bs_atomic_commit(&f, err);
}

/* The epoch a BrainMAE checkpoint was saved at (__metadata__ "epoch"). */
static int checkpoint_epoch(const char *path, int *epoch, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return err->code ? err->code : BS_ERR_IO;
    const char *text = bs_st_metadata(st, "epoch");
    char *end = NULL;
    long e = text ? strtol(text, &end, 10) : -1;
    int rc = BS_OK;
    if (!text || *end || e < 0 || e > 1000000)
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ 'epoch': expected a number of epochs", path);
    else
        *epoch = (int)e;
    bs_st_close(st);
    return rc;
}

/* Rows "epoch\tloss\n" of an earlier loss log up to `epoch` (resume into
 * the same log); a missing log is not an error. */
static int load_loss_rows(const char *path, int epoch, bs_strlist *rows)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return BS_OK;
    char buf[256];
    int rc = BS_OK, first = 1;
    while (rc == BS_OK && fgets(buf, sizeof buf, fp)) {
        long e = strtol(buf, NULL, 10);
        if (!first && e >= 1 && e <= epoch)
            rc = bs_strlist_push(rows, buf) ? BS_ERR_NOMEM : BS_OK;
        first = 0;
    }
    fclose(fp);
    return rc;
}

static int write_loss_rows(const char *path, const bs_strlist *rows, bs_error *err)
{
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    if (rc)
        return rc;
    fputs("epoch\tloss\n", f.fp);
    for (int i = 0; i < rows->n; i++)
        fputs(rows->items[i], f.fp);
    return bs_atomic_commit(&f, err);
}

/* BrainMAE trains one epoch per call of bs_brainmae_pretrain, which resumes
 * exactly at an epoch boundary from its own checkpoint file: a private
 * staging checkpoint next to --out.  Every --checkpoint-every epochs (1 by
 * default) and at the end, the loss log (rows up to that epoch) and then
 * the checkpoint are moved into place atomically, in that order, so a run
 * killed at any instant leaves a checkpoint under --out whose epoch the log
 * covers; --resume with the same log then continues bit-identically. */
static int pretrain_brainmae(const bs_cli *cli, const pretrain_args *a, bs_group_series *s, int n, bs_error *err)
{
    const int R = s[0].R;
    bs_brainmae *m = NULL;
    int rc = BS_OK, start = 0;
    char *staging = bs_temp_path_for(a->out, err);
    if (!staging)
        return err->code ? err->code : BS_ERR_IO;
    if (a->resume) {
        if (!(m = bs_brainmae_load(a->resume, err)) || (rc = checkpoint_epoch(a->resume, &start, err)) ||
            (rc = copy_file(a->resume, staging, err))) {
            rc = rc ? rc : err->code ? (int)err->code : BS_ERR_IO;
            goto done;
        }
    } else {
        double tr = s[0].tr;
        if (!(tr > 0)) {
            rc = bs_error_set(err, BS_ERR_USAGE,
                              "%s: no RepetitionTime (no JSON sidecar next to the TSV): give --tr SECONDS", s[0].path);
            goto done;
        }
        double window_s = a->window_s > 0 ? a->window_s : 10.0;
        int seg_len;
        if ((rc = bs_brainmae_seg_len(window_s, tr, &seg_len, err)))
            goto done;
        bs_brainmae_config cfg;
        bs_brainmae_config_default(&cfg, R, seg_len, a->segments ? (int)a->segments : 6);
        cfg.window_s = (float)window_s;
        if (a->depth) cfg.n_encoder = (int)a->depth;
        if (a->heads) cfg.n_heads = (int)a->heads;
        if (a->ffn) cfg.d_ffn = (int)a->ffn;
        if (a->feat) cfg.d_model = (int)a->feat;
        if (a->dropout >= 0) cfg.dropout = (float)a->dropout;
        if ((rc = bs_brainmae_config_validate(&cfg, err)))
            goto done;
        if (a->init) {
            if (!(m = bs_brainmae_load(a->init, err))) {
                rc = err->code ? err->code : BS_ERR_IO;
                goto done;
            }
        } else if (!(m = bs_brainmae_new(&cfg, cli->seed, err))) {
            rc = err->code ? err->code : BS_ERR_INTERNAL;
            goto done;
        }
    }
    const bs_brainmae_config *cfg = bs_brainmae_get_config(m);
    bs_brainmae_prepared *prep = calloc((size_t)n, sizeof *prep);
    if (!prep) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "pretrain: out of memory");
        goto done;
    }
    for (int u = 0; u < n && rc == BS_OK; u++) {
        bs_brainmae_subject sub = {s[u].ts, s[u].T, s[u].R, s[u].tr, s[u].path};
        if (!(s[u].tr > 0))
            rc = bs_error_set(err, BS_ERR_USAGE, "%s: no RepetitionTime (no JSON sidecar next to the TSV): give --tr SECONDS",
                              s[u].path);
        else
            rc = bs_brainmae_prepare(cfg, &sub, &prep[u], err);
    }
    bs_brainmae_train_options o;
    bs_brainmae_train_defaults(&o);
    long long epochs = a->epochs ? a->epochs : a->steps ? a->steps : 30;
    long long every = a->checkpoint_every > 0 ? a->checkpoint_every : 1;
    o.batch = a->batch ? (int)a->batch : 8;
    if (a->lr > 0)
        o.opt.lr = (float)a->lr;
    o.seed = cli->seed;
    o.checkpoint = staging;
    o.checkpoint_every = 1;
    o.quiet = 1;
    bs_strlist rows = {0};
    if (rc == BS_OK && a->resume && a->loss_log && load_loss_rows(a->loss_log, start, &rows))
        rc = bs_error_set(err, BS_ERR_NOMEM, "pretrain: out of memory");
    if (rc == BS_OK && !cli->quiet)
        bs_log(BS_LOG_INFO, "brainmae: %d runs, %d ROIs, %d-sample segments x %d, d=%d, %lld epochs of batch %d", n, R,
               cfg->seg_len, cfg->n_segments, cfg->d_model, epochs, o.batch);
    if (rc == BS_OK && start >= epochs)
        bs_log(BS_LOG_INFO, "brainmae pretrain: checkpoint already at epoch %d of %lld", start, epochs);
    int progress = rc == BS_OK;
    if (progress)
        bs_progress_begin("brainmae pretrain", epochs);
    for (long long e = start + 1; rc == BS_OK && e <= epochs; e++) {
        bs_brainmae_train_report rep;
        o.epochs = (int)e;
        o.resume = a->resume != NULL || e > 1;
        rc = bs_brainmae_pretrain(m, prep, n, &o, &rep, err);
        char line[64];
        if (rc == BS_OK && isfinite(rep.last_loss)) {
            snprintf(line, sizeof line, "%d\t%.9g\n", rep.epochs_done, rep.last_loss);
            if (bs_strlist_push(&rows, line))
                rc = bs_error_set(err, BS_ERR_NOMEM, "pretrain: out of memory");
        }
        if (rc == BS_OK && (e % every == 0 || e == epochs)) {
            if (a->loss_log)
                rc = write_loss_rows(a->loss_log, &rows, err);
            if (rc == BS_OK)
                rc = copy_file(staging, a->out, err);
        }
        bs_progress_update(e);
    }
    if (rc == BS_OK && start >= epochs && strcmp(a->resume, a->out))
        rc = copy_file(staging, a->out, err);
    if (progress)
        bs_progress_end();
    bs_strlist_free(&rows);
    for (int u = 0; u < n; u++)
        bs_brainmae_prepared_free(&prep[u]);
    free(prep);
done:
    unlink(staging);
    free(staging);
    bs_brainmae_free(m);
    return rc;
}

int bs_cmd_pretrain(const bs_cli *cli, int argc, char **argv)
{
    pretrain_args a = {0};
    a.dropout = -1;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        bs_strlist_free(&a.inputs);
        return rc;
    }
    bs_error err = {0};
    bs_group_series *s = NULL;
    int n = 0;
    /* a fresh run must not silently continue an old checkpoint */
    int existed = access(a.out, F_OK) == 0;
    int log_existed = a.loss_log && access(a.loss_log, F_OK) == 0;
    rc = bs_group_mkparent(a.out, &err);
    if (rc == BS_OK && a.loss_log)
        rc = bs_group_mkparent(a.loss_log, &err);
    if (rc == BS_OK)
        rc = load_inputs(&a, &s, &n, &err);
    if (rc == BS_OK)
        rc = !strcmp(a.model, "brainmass") ? pretrain_brainmass(cli, &a, s, n, &err)
                                           : pretrain_brainmae(cli, &a, s, n, &err);
    if (rc && !existed && !a.resume)
        unlink(a.out); /* no half-trained checkpoint under the final name */
    if (rc && !log_existed && !a.resume && a.loss_log)
        unlink(a.loss_log); /* nor the log of a failed fresh run */
    bs_group_series_free(s, n);
    bs_strlist_free(&a.inputs);
    if (rc)
        return bs_cli_fail(&err);
    if (!cli->quiet)
        printf("pretrain %s: %d runs -> %s\n", a.model, n, a.out);
    return 0;
}
