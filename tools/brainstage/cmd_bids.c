/* cmd_bids.c - `brainstage bids FMRIPREP_DIR OUTPUT_DIR participant|group`:
 * the BIDS-App entry point.
 *
 * participant: for each preprocessed BOLD run of the selected subjects,
 * finds the brain mask, the confounds TSV and the JSON sidecar by BIDS
 * entities, runs the named pipeline through the core runner with those
 * paths as pipeline variables, and writes a derivatives dataset under
 * OUTPUT_DIR (sub-X[/ses-Y]/func/..., dataset_description.json).  A run
 * with a missing input is skipped with a one-line message.
 * group: FC baseline + BrainMass and BrainMAE pretraining, embedding and
 * cross-validated heads over every participant's ROI time series, under
 * OUTPUT_DIR/group/.
 * Exit status follows BIDS-App conventions: 0 success, 1 any failure. */
#define _GNU_SOURCE 1
#include "config.h"
#include "cli_group.h"
#include "report.h"
#include "brainstage/atlas.h"
#include "brainstage/bids.h"
#include "brainstage/fileio.h"
#include "brainstage/log.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct bids_args {
    const char *in, *out, *level;
    const char *pipeline, *task, *session, *space, *atlas, *workdir, *participants;
    const char *label, *head, *models, *suffix, *fc_suffix;
    const char *steps, *epochs, *folds, *shots, *batch, *ft_epochs;
    int finetune; /* --finetune: also fine-tune the pretrained BrainMass per fold */
    long long nthreads;
    bs_strlist subjects; /* labels without "sub-" */
    bs_strlist vars;     /* extra var=value */
} bids_args;

static void bids_usage(void)
{
    fputs("usage: brainstage bids FMRIPREP_DIR OUTPUT_DIR participant|group [options]\n"
          "participant: --pipeline NAME|FILE [--participant-label L ...] [--session-id S] [--task-id T]\n"
          "             [--space SPACE] [--atlas NAME|FILE] [--nthreads N] [-w WORKDIR] [--var KEY=VALUE ...]\n"
          "group:       [--participants TSV] [--label COLUMN] [--head logreg|svm|mlp|centroid] [--folds K]\n"
          "             [--suffix S] [--fc-suffix S (e.g. _stat-pearsoncorrelation_relmat.tsv)]\n"
          "             [--shots K] [--models brainmass,brainmae|none] [--steps N] [--epochs N] [--batch B]\n"
          "             [--finetune [--finetune-epochs N]]\n"
          "Exit status: 0 success, 1 failure.\n",
          stderr);
}

static int is_file(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int parse_bids_args(int argc, char **argv, bids_args *a)
{
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-') {
            if (pos == 0) a->in = o;
            else if (pos == 1) a->out = o;
            else if (pos == 2) a->level = o;
            else {
                fprintf(stderr, "brainstage: bids: unexpected argument '%s'\n", o);
                return 1;
            }
            pos++;
            continue;
        }
        if (!strcmp(o, "--participant-label") || !strcmp(o, "--participant_label") || !strcmp(o, "--var")) {
            bs_strlist *l = o[2] == 'v' ? &a->vars : &a->subjects;
            int took = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                const char *s = argv[++i];
                if (l == &a->subjects && !strncmp(s, "sub-", 4))
                    s += 4; /* BIDS-App labels come without sub-, accept both */
                if (l == &a->vars && !strchr(s, '=')) {
                    fprintf(stderr, "brainstage: bids: --var '%s': expected KEY=VALUE\n", s);
                    return 1;
                }
                bs_strlist_push(l, s);
                took++;
            }
            if (!took) {
                fprintf(stderr, "brainstage: bids: %s needs at least one value\n", o);
                return 1;
            }
            continue;
        }
        if (!strcmp(o, "--finetune")) {
            a->finetune = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "brainstage: bids: %s needs a value\n", o);
            return 1;
        }
        i++;
        if (!strcmp(o, "--pipeline")) a->pipeline = v;
        else if (!strcmp(o, "--finetune-epochs")) a->ft_epochs = v;
        else if (!strcmp(o, "--task-id") || !strcmp(o, "--task")) a->task = v;
        else if (!strcmp(o, "--session-id")) a->session = v;
        else if (!strcmp(o, "--space")) a->space = v;
        else if (!strcmp(o, "--atlas") || !strcmp(o, "--atlases")) a->atlas = v;
        else if (!strcmp(o, "-w") || !strcmp(o, "--work-dir")) a->workdir = v;
        else if (!strcmp(o, "--participants")) a->participants = v;
        else if (!strcmp(o, "--label")) a->label = v;
        else if (!strcmp(o, "--head")) a->head = v;
        else if (!strcmp(o, "--models")) a->models = v;
        else if (!strcmp(o, "--suffix")) a->suffix = v;
        else if (!strcmp(o, "--fc-suffix")) a->fc_suffix = v;
        else if (!strcmp(o, "--steps")) a->steps = v;
        else if (!strcmp(o, "--epochs")) a->epochs = v;
        else if (!strcmp(o, "--batch")) a->batch = v;
        else if (!strcmp(o, "--folds")) a->folds = v;
        else if (!strcmp(o, "--shots")) a->shots = v;
        else if (!strcmp(o, "--nthreads") || !strcmp(o, "--n-cpus")) {
            if (bs_group_opt_int("bids", o, v, 1, 4096, &a->nthreads))
                return 1;
        } else {
            fprintf(stderr, "brainstage: bids: unknown option '%s'\n", o);
            bids_usage();
            return 1;
        }
    }
    if (pos != 3) {
        bids_usage();
        return 1;
    }
    if (strcmp(a->level, "participant") && strcmp(a->level, "group")) {
        fprintf(stderr, "brainstage: bids: analysis level '%s': expected participant or group\n", a->level);
        return 1;
    }
    if (!is_dir(a->in)) {
        fprintf(stderr, "brainstage: bids: %s: not a folder (expected fMRIPrep derivatives)\n", a->in);
        return 1;
    }
    return 0;
}

/* ---- participant level ---- */

/* Base name of path up to (not including) marker; NULL if absent. */
static char *stem_before(const char *path, const char *marker)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *m = strstr(base, marker);
    if (!m)
        return NULL;
    return strndup(base, (size_t)(m - base));
}

/* stem without the space-, res-, den- and cohort- entities: fMRIPrep names
 * confounds by the acquisition entities only. */
static char *acquisition_stem(const char *stem)
{
    static const char *const drop[] = {"space", "res", "den", "cohort", NULL};
    return bs_cli_filter_entities(stem, drop, 1);
}

static int wanted(const bids_args *a, const char *bold)
{
    int ok = 1;
    char *sub = bs_bids_entity(bold, "sub"), *task = bs_bids_entity(bold, "task");
    char *ses = bs_bids_entity(bold, "ses"), *space = bs_bids_entity(bold, "space");
    if (a->subjects.n) {
        int hit = 0;
        for (int i = 0; i < a->subjects.n && sub; i++)
            hit |= !strcmp(a->subjects.items[i], sub);
        ok &= hit;
    }
    if (a->task)
        ok &= task && !strcmp(task, a->task);
    if (a->session)
        ok &= ses && !strcmp(ses, a->session);
    if (a->space)
        ok &= space && !strcmp(space, a->space);
    free(sub);
    free(task);
    free(ses);
    free(space);
    return ok;
}

/* Every *_desc-preproc_bold.nii[.gz] under IN/sub-X/[ses-Y/]func. */
static int find_bolds(const bids_args *a, bs_strlist *out)
{
    const char *pats[] = {"%s/sub-*/func/*_desc-preproc_bold.nii.gz", "%s/sub-*/ses-*/func/*_desc-preproc_bold.nii.gz",
                          "%s/sub-*/func/*_desc-preproc_bold.nii", "%s/sub-*/ses-*/func/*_desc-preproc_bold.nii"};
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        char *pat = bs_cli_strf(pats[k], a->in);
        glob_t g;
        if (pat && glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++)
                if (wanted(a, g.gl_pathv[i]))
                    bs_strlist_push(out, g.gl_pathv[i]);
            globfree(&g);
        }
        free(pat);
    }
    bs_group_unique(out);
    return out->n;
}

/* Atlas image, label table and name for the pipeline variables. */
typedef struct atlas_choice {
    char *image, *labels, *name;
} atlas_choice;

static void atlas_from_file(const char *path, atlas_choice *c)
{
    c->image = strdup(path);
    char *stem = stem_before(path, ".nii");
    char *dir = strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    /* The label table sits beside the image under the same name, or (BIDS
     * inheritance, as brainstage simulate and templateflow write it) under
     * the name without the space-/res-/den-/cohort- entities. */
    char *general = stem ? acquisition_stem(stem) : NULL;
    const char *names[] = {stem, general};
    for (int k = 0; k < 2 && !c->labels; k++) {
        char *tsv = names[k] ? bs_cli_strf("%s/%s.tsv", slash ? dir : ".", names[k]) : NULL;
        if (is_file(tsv))
            c->labels = tsv;
        else
            free(tsv);
    }
    free(general);
    c->name = bs_atlas_label_from_path(path); /* the atlas stage's own default label */
    free(stem);
    free(dir);
}

static void choose_atlas(const bids_args *a, atlas_choice *c)
{
    memset(c, 0, sizeof *c);
    if (a->atlas && is_file(a->atlas)) {
        atlas_from_file(a->atlas, c);
        return;
    }
    /* an atlas shipped with the dataset (brainstage simulate writes one) */
    char *pat = a->atlas ? bs_cli_strf("%s/atlas/atlas-%s_*dseg.nii*", a->in, a->atlas)
                         : bs_cli_strf("%s/atlas/*_dseg.nii*", a->in);
    glob_t g;
    if (pat && glob(pat, 0, NULL, &g) == 0) {
        if (g.gl_pathc >= 1)
            atlas_from_file(g.gl_pathv[0], c);
        globfree(&g);
    }
    free(pat);
    if (!c->image && a->atlas) { /* a catalog name (aal, harvardoxford, ...): its descriptor's label */
        bs_atlas_spec spec;
        bs_error err = {0};
        c->image = strdup(a->atlas);
        c->name = strdup(bs_atlas_resolve(a->atlas, NULL, &spec, &err) == BS_OK ? spec.bids_name : a->atlas);
        if (!err.code)
            bs_atlas_spec_free(&spec);
    }
}

/* A JSON string literal body: escapes quotes, backslashes and controls. */
static void json_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(fp, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(fp, "\\u%04x", *s);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

static int write_description(const bids_args *a, const char *pipeline, bs_error *err)
{
    char *path = bs_cli_strf("%s/dataset_description.json", a->out);
    if (!path)
        return BS_ERR_NOMEM;
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    free(path);
    if (rc)
        return rc;
    char *abs = realpath(a->in, NULL);
    fputs("{\n  \"Name\": \"brainstage derivatives\",\n  \"BIDSVersion\": \"1.9.0\",\n"
          "  \"DatasetType\": \"derivative\",\n  \"GeneratedBy\": [\n    {\n      \"Name\": \"brainstage\",\n"
          "      \"Version\": \"" PACKAGE_VERSION "\",\n      \"Description\": ",
          f.fp);
    char desc[512];
    snprintf(desc, sizeof desc, "participant level, pipeline %s", pipeline);
    json_string(f.fp, desc);
    fputs("\n    }\n  ],\n  \"SourceDatasets\": [\n    {\n      \"URL\": ", f.fp);
    char *url = bs_cli_strf("file://%s", abs ? abs : a->in);
    json_string(f.fp, url ? url : "");
    /* resolves the bids:preprocessed: URIs of the sidecars' Sources */
    fputs("\n    }\n  ],\n  \"DatasetLinks\": {\n    \"preprocessed\": ", f.fp);
    json_string(f.fp, abs ? abs : a->in);
    fputs("\n  }\n}\n", f.fp);
    free(url);
    free(abs);
    return bs_atomic_commit(&f, err);
}

/* JSON sidecars (RepetitionTime, Sources) for the ROI time series a run
 * produced, so group level knows the TR without the fMRIPrep folder. */
static void write_ts_sidecars(const char *outdir, const char *entities, double tr, const char *bold)
{
    char *pat = bs_cli_strf("%s/%s*_timeseries.tsv", outdir, entities);
    glob_t g;
    if (pat && glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            size_t len = strlen(g.gl_pathv[i]);
            char *json = bs_cli_strf("%.*s.json", (int)(len - 4), g.gl_pathv[i]);
            bs_error err = {0};
            bs_atomic_file f;
            if (json && !is_file(json) && bs_atomic_open(&f, json, &err) == BS_OK) {
                fprintf(f.fp, "{\n  \"RepetitionTime\": %.9g,\n  \"Sources\": [", tr);
                json_string(f.fp, bold);
                fputs("]\n}\n", f.fp);
                if (bs_atomic_commit(&f, &err))
                    bs_log(BS_LOG_WARN, "%s", err.message);
            }
            free(json);
        }
        globfree(&g);
    }
    free(pat);
}

/* "bids:preprocessed:REL" for a file inside the fMRIPrep folder (REL: its
 * path below it), the BIDS URI XCP-D puts in Sources; the dataset name
 * resolves through DatasetLinks in dataset_description.json.  NULL for a
 * file elsewhere (it is then named by its path). */
static char *preprocessed_uri(const char *fmriprep_dir, const char *path)
{
    char *root = realpath(fmriprep_dir, NULL), *file = realpath(path, NULL), *uri = NULL;
    size_t n = root ? strlen(root) : 0;
    if (root && file && !strncmp(file, root, n) && file[n] == '/')
        uri = bs_cli_strf("bids:preprocessed:%s", file + n + 1);
    free(root);
    free(file);
    return uri;
}

static void push_var(bs_strlist *vars, const char *key, const char *value)
{
    if (!value)
        return;
    char *kv = bs_cli_strf("%s=%s", key, value);
    if (kv)
        bs_strlist_push(vars, kv);
    free(kv);
}

/* Runs the pipeline on one BOLD run; returns 0 done, 1 skipped or failed
 * (message printed). */
static int participant_run(const bs_cli *cli, const bids_args *a, const char *pipeline_path, const bs_registry *reg,
                           const atlas_choice *atlas, const char *bold)
{
    int status = 1;
    char *stem = stem_before(bold, "_desc-preproc_bold");
    char *dir = strdup(bold);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    char *acq = acquisition_stem(stem);
    char *mask = bs_cli_strf("%s/%s_desc-brain_mask.nii.gz", dir, stem);
    if (!is_file(mask)) {
        free(mask);
        mask = bs_cli_strf("%s/%s_desc-brain_mask.nii", dir, stem);
    }
    char *confounds = bs_cli_strf("%s/%s_desc-confounds_timeseries.tsv", dir, acq);
    if (!is_file(confounds)) { /* fMRIPrep < 20.2 */
        char *old = bs_cli_strf("%s/%s_desc-confounds_regressors.tsv", dir, acq);
        if (is_file(old)) {
            free(confounds);
            confounds = old;
        } else {
            free(old);
        }
    }
    char *sidecar = bs_bids_sidecar_path(bold);
    char *entities = bs_bids_entities(bold);
    char *sub = bs_bids_entity(bold, "sub"), *ses = bs_bids_entity(bold, "ses");
    bs_strlist vars = {0};
    double tr = 0;
    int found = 0;
    bs_error err = {0};
    const char *missing = !is_file(mask) ? mask : !is_file(confounds) ? confounds : !is_file(sidecar) ? sidecar : NULL;
    if (missing) {
        fprintf(stderr, "brainstage: bids: sub-%s: skipped %s: missing %s\n", sub, stem, missing);
        goto done;
    }
    if (bs_bids_read_tr(sidecar, &tr, &found, &err) || !found) {
        fprintf(stderr, "brainstage: bids: sub-%s: skipped %s: %s\n", sub, stem,
                found || err.message[0] ? err.message : "no RepetitionTime in the JSON sidecar");
        goto done;
    }
    char *outdir = ses ? bs_cli_strf("%s/sub-%s/ses-%s/func", a->out, sub, ses) : bs_cli_strf("%s/sub-%s/func", a->out, sub);
    char *prefix = bs_cli_strf("%s/%s", outdir, entities);
    char trs[64];
    snprintf(trs, sizeof trs, "%.9g", tr);
    push_var(&vars, "bold", bold);
    char *bold_uri = preprocessed_uri(a->in, bold);
    push_var(&vars, "bold_uri", bold_uri);
    push_var(&vars, "mask", mask);
    push_var(&vars, "confounds", confounds);
    push_var(&vars, "sidecar", sidecar);
    push_var(&vars, "tr", trs);
    push_var(&vars, "out", outdir);
    push_var(&vars, "prefix", prefix);
    push_var(&vars, "entities", entities);
    push_var(&vars, "sub", sub);
    push_var(&vars, "ses", ses);
    const char *keys[] = {"task", "run", "acq", "space", "res"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char *v = bs_bids_entity(bold, keys[k]);
        push_var(&vars, keys[k], v);
        free(v);
    }
    if (atlas->image) {
        push_var(&vars, "atlas", atlas->image);
        push_var(&vars, "atlas_name", atlas->name);
        push_var(&vars, "labels", atlas->labels ? atlas->labels : "");
    }
    for (int i = 0; i < a->vars.n; i++) /* later assignments win */
        bs_strlist_push(&vars, a->vars.items[i]);
    bs_pipeline *p = bs_pipeline_parse_file(pipeline_path, vars.n, (const char *const *)vars.items, &err);
    bs_graph *g = p ? bs_graph_link(p, reg, &err) : NULL;
    int rc = g ? BS_OK : (err.code ? err.code : BS_ERR_PIPELINE);
    if (rc == BS_OK)
        rc = bs_mkdirs(outdir, &err);
    if (rc == BS_OK) {
        bs_run_options opt = {(int)(a->nthreads ? a->nthreads : cli->threads), cli->seed, 1};
        rc = bs_graph_run(g, &opt, &err);
    }
    if (rc) {
        fprintf(stderr, "brainstage: bids: sub-%s: %s failed: %s\n", sub, stem, err.message);
    } else {
        write_ts_sidecars(outdir, entities, tr, bold_uri ? bold_uri : bold);
        if (!cli->quiet)
            printf("sub-%s: %s -> %s\n", sub, stem, outdir);
        status = 0;
    }
    bs_graph_free(g);
    bs_pipeline_free(p);
    free(outdir);
    free(prefix);
    free(bold_uri);
done:
    bs_strlist_free(&vars);
    free(stem);
    free(dir);
    free(acq);
    free(mask);
    free(confounds);
    free(sidecar);
    free(entities);
    free(sub);
    free(ses);
    return status;
}

/* ---- HTML reports (docs/reports.md) ---- */

/* OUTPUT_DIR/sub-X.html for every subject with a finished run; returns
 * the number of reports that failed (message printed). */
static int participant_reports(const bs_cli *cli, const bids_args *a, const bs_strlist *bolds_done)
{
    bs_strlist subs = {0};
    for (int i = 0; i < bolds_done->n; i++) {
        char *sub = bs_bids_entity(bolds_done->items[i], "sub");
        char *name = sub ? bs_cli_strf("sub-%s", sub) : NULL;
        if (name)
            bs_strlist_push(&subs, name);
        free(name);
        free(sub);
    }
    int failed = bs_report_participant_level(a->in, a->out, &subs, cli->quiet);
    bs_strlist_free(&subs);
    return failed;
}

static int participant_level(const bs_cli *cli, const bids_args *a)
{
    if (!a->pipeline) {
        fprintf(stderr, "brainstage: bids: participant level needs --pipeline NAME (e.g. timeseries, fc)\n");
        return 1;
    }
    char *pipeline_path = bs_cli_find_pipeline(a->pipeline);
    if (!is_file(pipeline_path)) {
        fprintf(stderr, "brainstage: bids: pipeline '%s' not found (a file, or a shipped pipeline name)\n", a->pipeline);
        free(pipeline_path);
        return 1;
    }
    int failed = 0;
    /* every requested label must exist */
    for (int i = 0; i < a->subjects.n; i++) {
        char *d = bs_cli_strf("%s/sub-%s", a->in, a->subjects.items[i]);
        if (!is_dir(d)) {
            fprintf(stderr, "brainstage: bids: sub-%s: no such subject in %s\n", a->subjects.items[i], a->in);
            failed++;
        }
        free(d);
    }
    bs_strlist bolds = {0};
    if (!find_bolds(a, &bolds)) {
        fprintf(stderr, "brainstage: bids: %s: no *_desc-preproc_bold.nii.gz matches the selection\n", a->in);
        free(pipeline_path);
        return 1;
    }
    bs_error err = {0};
    if (bs_mkdirs(a->out, &err) || (a->workdir && bs_mkdirs(a->workdir, &err))) {
        fprintf(stderr, "brainstage: bids: %s\n", err.message);
        free(pipeline_path);
        bs_strlist_free(&bolds);
        return 1;
    }
    bs_registry *reg = bs_cli_registry();
    atlas_choice atlas;
    choose_atlas(a, &atlas);
    int done = 0;
    bs_strlist bolds_done = {0};
    for (int i = 0; i < bolds.n; i++) {
        if (participant_run(cli, a, pipeline_path, reg, &atlas, bolds.items[i]))
            failed++;
        else {
            done++;
            bs_strlist_push(&bolds_done, bolds.items[i]);
        }
    }
    if (done && write_description(a, a->pipeline, &err)) {
        fprintf(stderr, "brainstage: bids: %s\n", err.message);
        failed++;
    }
    failed += participant_reports(cli, a, &bolds_done);
    bs_strlist_free(&bolds_done);
    if (!cli->quiet)
        printf("participant level: %d run(s) done, %d skipped or failed\n", done, failed);
    free(atlas.image);
    free(atlas.labels);
    free(atlas.name);
    bs_registry_free(reg);
    bs_strlist_free(&bolds);
    free(pipeline_path);
    return failed || !done ? 1 : 0;
}

/* ---- group level ---- */

typedef int (*command_fn)(const bs_cli *, int, char **);

/* Calls a group command with a NULL-terminated argument list. */
static int call(command_fn fn, const bs_cli *cli, const char *first, ...)
{
    char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && n < 63; s = va_arg(ap, const char *))
        args[n++] = (char *)s;
    va_end(ap);
    args[n] = NULL;
    return fn(cli, n, args);
}

/* The pretrained BrainMass fine-tuned with a classifier head on each
 * split's training subjects (k-fold, and few-shot with --shots), plus the
 * model fine-tuned on everyone, saved for new subjects. */
static int group_finetune(const bs_cli *cli, const bids_args *a, const char *gdir, const char *ckpt,
                          const char *participants, const char *label, const char *folds, const char *suffix)
{
    char *model = bs_cli_strf("%s/model-brainmass_desc-finetuned.safetensors", gdir);
    char *prefix = bs_cli_strf("%s/eval-brainmass_head-finetune", gdir);
    const char *ep = a->ft_epochs ? "--epochs" : NULL;
    int rc = call(bs_cmd_evaluate, cli, "--fc-inputs", a->out, "--suffix", suffix, "--participants", participants,
                  "--label", label, "--head", "finetune", "--model", ckpt, "--folds", folds, "--name", "brainmass-ft",
                  "--no-header", "--save-model", model, "--out", prefix, ep, a->ft_epochs, (char *)NULL);
    free(prefix);
    if (!rc && a->shots) {
        prefix = bs_cli_strf("%s/eval-brainmass_head-finetune_shots-%s", gdir, a->shots);
        rc = call(bs_cmd_evaluate, cli, "--fc-inputs", a->out, "--suffix", suffix, "--participants", participants,
                  "--label", label, "--head", "finetune", "--model", ckpt, "--shots", a->shots, "--name",
                  "brainmass-ft", "--no-header", "--out", prefix, ep, a->ft_epochs, (char *)NULL);
        free(prefix);
    }
    free(model);
    return rc;
}

static int group_level(const bs_cli *cli, const bids_args *a)
{
    const char *label = a->label ? a->label : "group", *head = a->head ? a->head : "logreg";
    const char *folds = a->folds ? a->folds : "5", *suffix = a->suffix ? a->suffix : BS_GROUP_TS_SUFFIX;
    const char *fc_suffix = a->fc_suffix ? a->fc_suffix : suffix; /* FC baseline: time series or relmat files */
    char *participants = a->participants ? strdup(a->participants) : bs_cli_strf("%s/participants.tsv", a->out);
    if (!a->participants && !is_file(participants)) {
        free(participants);
        participants = bs_cli_strf("%s/participants.tsv", a->in);
    }
    if (!is_file(participants)) {
        fprintf(stderr, "brainstage: bids: group: %s: no participants.tsv (give --participants)\n", participants);
        free(participants);
        return 1;
    }
    char *gdir = bs_cli_strf("%s/group", a->out);
    bs_error err = {0};
    if (bs_mkdirs(gdir, &err)) {
        fprintf(stderr, "brainstage: bids: %s\n", err.message);
        free(participants);
        free(gdir);
        return 1;
    }
    int rc = 0;
    char *prefix = bs_cli_strf("%s/eval-fc_head-%s", gdir, head);
    printf("group level: %s, label %s, %s folds\n", participants, label, folds);
    rc = call(bs_cmd_evaluate, cli, "--fc-inputs", a->out, "--suffix", fc_suffix, "--participants", participants, "--label",
              label, "--head", head, "--folds", folds, "--name", "fc", "--out", prefix, (char *)NULL);
    free(prefix);
    if (!rc && a->shots) {
        prefix = bs_cli_strf("%s/eval-fc_head-%s_shots-%s", gdir, head, a->shots);
        rc = call(bs_cmd_evaluate, cli, "--fc-inputs", a->out, "--suffix", fc_suffix, "--participants", participants,
                  "--label", label, "--head", head, "--shots", a->shots, "--name", "fc", "--no-header", "--out", prefix,
                  (char *)NULL);
        free(prefix);
    }
    const char *models = a->models ? a->models : "brainmass,brainmae";
    const char *names[] = {"brainmass", "brainmae"};
    if (!rc && a->finetune && !strstr(models, "brainmass")) {
        fprintf(stderr, "brainstage: bids: group: --finetune fine-tunes the pretrained BrainMass; --models %s lacks it\n",
                models);
        rc = 1;
    }
    for (int k = 0; k < 2 && !rc; k++) {
        if (!strstr(models, names[k]))
            continue;
        char *ckpt = bs_cli_strf("%s/model-%s.safetensors", gdir, names[k]);
        char *loss = bs_cli_strf("%s/model-%s_loss.tsv", gdir, names[k]);
        char *feats = bs_cli_strf("%s/features-%s.tsv", gdir, names[k]);
        const char *len_opt = k == 0 ? "--steps" : "--epochs";
        const char *len_val = k == 0 ? a->steps : a->epochs;
        if (len_val)
            rc = call(bs_cmd_pretrain, cli, names[k], "--inputs", a->out, "--suffix", suffix, "--out", ckpt, "--loss-log",
                      loss, len_opt, len_val, a->batch ? "--batch" : NULL, a->batch, (char *)NULL);
        else
            rc = call(bs_cmd_pretrain, cli, names[k], "--inputs", a->out, "--suffix", suffix, "--out", ckpt, "--loss-log",
                      loss, a->batch ? "--batch" : NULL, a->batch, (char *)NULL);
        if (!rc)
            rc = call(bs_cmd_embed, cli, names[k], "--weights", ckpt, "--inputs", a->out, "--suffix", suffix, "--out",
                      feats, (char *)NULL);
        if (!rc) {
            prefix = bs_cli_strf("%s/eval-%s_head-%s", gdir, names[k], head);
            rc = call(bs_cmd_evaluate, cli, "--features", feats, "--participants", participants, "--label", label,
                      "--head", head, "--folds", folds, "--name", names[k], "--no-header", "--out", prefix,
                      (char *)NULL);
            free(prefix);
        }
        if (!rc && a->shots) {
            prefix = bs_cli_strf("%s/eval-%s_head-%s_shots-%s", gdir, names[k], head, a->shots);
            rc = call(bs_cmd_evaluate, cli, "--features", feats, "--participants", participants, "--label", label,
                      "--head", head, "--shots", a->shots, "--name", names[k], "--no-header", "--out", prefix,
                      (char *)NULL);
            free(prefix);
        }
        if (!rc && k == 0 && a->finetune)
            rc = group_finetune(cli, a, gdir, ckpt, participants, label, folds, suffix);
        free(ckpt);
        free(loss);
        free(feats);
    }
    if (!rc) /* group.html, and every subject report gains its embeddings and predictions */
        rc = bs_report_group_level(a->in, a->out, participants, label, cli->quiet);
    free(participants);
    free(gdir);
    return rc ? 1 : 0;
}

int bs_cmd_bids(const bs_cli *cli, int argc, char **argv)
{
    bids_args a = {0};
    int rc = parse_bids_args(argc, argv, &a);
    if (!rc)
        rc = !strcmp(a.level, "participant") ? participant_level(cli, &a) : group_level(cli, &a);
    bs_strlist_free(&a.subjects);
    bs_strlist_free(&a.vars);
    return rc ? 1 : 0;
}
