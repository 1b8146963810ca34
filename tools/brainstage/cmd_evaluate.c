/* cmd_evaluate.c - `brainstage evaluate`: cross-validated (or few-shot)
 * heads on a feature table or on vectorised FC, labels from participants.tsv;
 * or, with --head finetune, a pretrained BrainMass encoder fine-tuned with a
 * classifier head on each split's training subjects (ROI time series in,
 * pFC views as augmentation).  Writes PREFIX_metrics.tsv, PREFIX_metrics.json
 * (and, for k-fold, PREFIX_predictions.tsv), optionally a model trained on
 * every subject (--save-model), and prints one table row of mean ± sd. */
#include "cli_group.h"
#include "brainstage/brainmass_finetune.h"
#include "brainstage/eval.h"
#include "brainstage/fc.h"
#include "brainstage/fileio.h"
#include "brainstage/heads.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void evaluate_usage(void)
{
    fputs("usage: brainstage evaluate (--features FEATURES.tsv|.safetensors | --fc-inputs DIR|GLOB|FILE...)\n"
          "         [--suffix _timeseries.tsv|_stat-pearsoncorrelation_relmat.tsv|...]\n"
          "         --participants participants.tsv [--label COLUMN] [--head logreg|svm|mlp|ridge|centroid]\n"
          "         [--folds K] [--shots K [--repeats N]] [--C C] [--name NAME] [--no-header]\n"
          "         [--save-model PATH] --out PREFIX\n"
          "       brainstage evaluate --head finetune --model BRAINMASS.safetensors --fc-inputs DIR|GLOB|FILE...\n"
          "         --participants participants.tsv [--label COLUMN] [--folds K | --shots K [--repeats N]]\n"
          "         [--epochs N] [--batch B] [--lr LR] [--encoder-lr LR] [--weight-decay WD] [--freeze]\n"
          "         [--patience N] [--augment pfc|none] [--keep F] [--from-scratch] [--save-model PATH] --out PREFIX\n",
          stderr);
}

/* Every ROI time series the --fc-inputs name (sorted, de-duplicated). */
static int read_series(const bs_strlist *inputs, const char *suffix, bs_group_series **s, int *n, bs_error *err)
{
    bs_strlist files = {0};
    int rc = BS_OK;
    for (int i = 0; i < inputs->n && rc == BS_OK; i++)
        rc = bs_group_expand_inputs(inputs->items[i], suffix, &files, err);
    if (rc == BS_OK) {
        bs_group_unique(&files);
        rc = bs_group_read_series(&files, 0, s, n, err);
    }
    bs_strlist_free(&files);
    return rc;
}

/* Adds one run's R x R matrix (undefined entries as 0) to its subject's
 * mean upper triangle; a subject's runs are consecutive in sorted order. */
static int add_run(bs_features *f, int *runs, const char *participant, float *fc, int R, float *vec)
{
    const int64_t d = f->d;
    for (size_t k = 0; k < (size_t)R * R; k++)
        if (!isfinite(fc[k]))
            fc[k] = 0.0f;
    bs_fc_vectorize(fc, 1, R, vec);
    int64_t k = f->n - 1;
    if (k < 0 || strcmp(f->ids[k], participant)) {
        k = f->n++;
        if (!(f->ids[k] = strdup(participant)))
            return BS_ERR_NOMEM;
    }
    runs[k]++;
    float *dst = f->X + k * d;
    for (int64_t j = 0; j < d; j++)
        dst[j] += (vec[j] - dst[j]) / (float)runs[k];
    return BS_OK;
}

static int is_relmat(const char *path)
{
    size_t n = strlen(path), m = strlen("_relmat.tsv");
    return n >= m && !strcmp(path + n - m, "_relmat.tsv");
}

/* Reads the i-th relmat; all must list the same nodes as the first. */
static bs_relmat *read_relmat(const bs_strlist *files, int i, const bs_relmat *first, bs_error *err)
{
    bs_relmat *m = bs_relmat_read(files->items[i], err);
    if (!m || !first)
        return m;
    int bad = -1;
    for (int k = 0; k < m->n && bad < 0 && m->n == first->n; k++)
        if (strcmp(m->nodes[k], first->nodes[k]))
            bad = k;
    if (m->n != first->n)
        bs_error_set(err, BS_ERR_DATA, "%s: %d nodes, but %s has %d (one atlas for all inputs: narrow --suffix, "
                     "e.g. _atlas-<label>_stat-pearsoncorrelation_relmat.tsv)", m->path, m->n, first->path, first->n);
    else if (bad >= 0)
        bs_error_set(err, BS_ERR_DATA, "%s: node %d is '%.60s', but %s has '%.60s' there (one atlas, same node order "
                     "for all inputs)", m->path, bad + 1, m->nodes[bad], first->path, first->nodes[bad]);
    else
        return m;
    bs_relmat_free(m);
    return NULL;
}

/* Classical baseline: upper triangle of each run's FC (undefined ROIs as 0),
 * averaged over a subject's runs.  The FC is brainstage's Pearson of ROI
 * time series, or read from *_relmat.tsv files (XCP-D's or brainstage's,
 * whatever their stat-) when every input is one. */
static int fc_features(const bs_strlist *inputs, const char *suffix, bs_features *f, bs_error *err)
{
    bs_strlist files = {0};
    bs_group_series *s = NULL;
    bs_relmat *first = NULL, *m = NULL;
    int n = 0, rc = BS_OK, relmat = 0;
    for (int i = 0; i < inputs->n && rc == BS_OK; i++)
        rc = bs_group_expand_inputs(inputs->items[i], suffix, &files, err);
    if (rc == BS_OK) {
        bs_group_unique(&files);
        for (int i = 0; i < files.n; i++)
            relmat += is_relmat(files.items[i]);
        if (relmat && relmat != files.n)
            rc = bs_error_set(err, BS_ERR_USAGE, "evaluate: --fc-inputs mixes %d *_relmat.tsv files with %d time "
                              "series; give one kind", relmat, files.n - relmat);
        else if (relmat)
            rc = (first = read_relmat(&files, 0, NULL, err)) ? BS_OK : err->code;
        else
            rc = bs_group_read_series(&files, 0, &s, &n, err);
    }
    if (rc) {
        bs_strlist_free(&files);
        return rc;
    }
    const int R = relmat ? first->n : s[0].R;
    const int runs_total = relmat ? files.n : n;
    const int64_t d = bs_fc_vector_length(R);
    memset(f, 0, sizeof *f);
    f->d = d;
    f->X = bs_alloc_floats((size_t)runs_total * d);
    f->ids = calloc((size_t)runs_total, sizeof *f->ids);
    float *fc = bs_alloc_floats((size_t)R * R), *vec = bs_alloc_floats((size_t)d);
    int *runs = calloc((size_t)runs_total, sizeof *runs);
    if (!f->X || !f->ids || !fc || !vec || !runs)
        rc = bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
    bs_fc_options o;
    bs_fc_options_init(&o);
    for (int u = 0; u < runs_total && rc == BS_OK; u++) {
        char *participant = NULL;
        if (relmat) {
            if (u > 0 && !(m = read_relmat(&files, u, first, err))) {
                rc = err->code;
                break;
            }
            const bs_relmat *cur = u ? m : first;
            memcpy(fc, cur->values, (size_t)R * R * sizeof *fc);
            if (!(participant = bs_group_participant(cur->path)))
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: the file name has no sub- entity (expected "
                                  "sub-<label>_...)", cur->path);
            bs_relmat_free(m);
            m = NULL;
        } else {
            rc = bs_fc_compute(s[u].ts, s[u].T, R, &o, fc, NULL, NULL, err);
        }
        if (rc == BS_OK)
            rc = add_run(f, runs, relmat ? participant : s[u].participant, fc, R, vec);
        free(participant);
    }
    bs_free(fc);
    bs_free(vec);
    free(runs);
    bs_relmat_free(first);
    bs_group_series_free(s, n);
    bs_strlist_free(&files);
    return rc;
}

/* Fine-tuning inputs: every run's ROI time series (full-run FC and pFC
 * views), grouped into subjects in sorted order; ids[i] is subject i. */
static int finetune_inputs(const bs_strlist *inputs, const char *suffix, double keep, uint64_t seed,
                           bs_finetune_data *d, bs_features *ids, bs_error *err)
{
    bs_group_series *s = NULL;
    int n = 0, rc = read_series(inputs, suffix, &s, &n, err);
    if (rc)
        return rc;
    const float **ts = calloc((size_t)n, sizeof *ts);
    const char **names = calloc((size_t)n, sizeof *names);
    int64_t *T = calloc((size_t)n, sizeof *T);
    int32_t *subject = calloc((size_t)n, sizeof *subject);
    memset(ids, 0, sizeof *ids);
    ids->ids = calloc((size_t)n, sizeof *ids->ids);
    if (!ts || !names || !T || !subject || !ids->ids)
        rc = bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
    for (int u = 0; u < n && rc == BS_OK; u++) {
        ts[u] = s[u].ts;
        T[u] = s[u].T;
        names[u] = s[u].path;
        if (!ids->n || strcmp(ids->ids[ids->n - 1], s[u].participant))
            if (!(ids->ids[ids->n++] = strdup(s[u].participant)))
                rc = BS_ERR_NOMEM;
        subject[u] = (int32_t)(ids->n - 1);
    }
    if (rc == BS_OK)
        rc = bs_finetune_data_from_series(n, ts, T, s[0].R, subject, ids->n, keep, seed, names, d, err);
    free(ts);
    free(names);
    free(T);
    free(subject);
    bs_group_series_free(s, n);
    return rc;
}

typedef struct finetune_opts {
    const char *model;
    int from_scratch;
    bs_finetune_config cfg;
} finetune_opts;

static int parse_finetune_opt(const char *o, const char *v, finetune_opts *ft, int *handled)
{
    const char *cmd = "evaluate";
    long long k;
    double x;
    int rc = 0;
    *handled = 1;
    if (!strcmp(o, "--model")) ft->model = v;
    else if (!strcmp(o, "--epochs")) {
        if (!(rc = bs_group_opt_int(cmd, o, v, 1, 1000000, &k))) ft->cfg.epochs = (int)k;
    } else if (!strcmp(o, "--batch")) {
        if (!(rc = bs_group_opt_int(cmd, o, v, 2, 65536, &k))) ft->cfg.batch = (int)k;
    } else if (!strcmp(o, "--patience")) {
        if (!(rc = bs_group_opt_int(cmd, o, v, 0, 1000000, &k))) ft->cfg.patience = (int)k;
    } else if (!strcmp(o, "--lr")) {
        if (!(rc = bs_group_opt_double(cmd, o, v, 1e-12, 10, &x))) ft->cfg.lr = x;
    } else if (!strcmp(o, "--encoder-lr")) {
        if (!(rc = bs_group_opt_double(cmd, o, v, 0, 10, &x))) ft->cfg.encoder_lr = x;
    } else if (!strcmp(o, "--weight-decay")) {
        if (!(rc = bs_group_opt_double(cmd, o, v, 0, 10, &x))) ft->cfg.weight_decay = x;
    } else if (!strcmp(o, "--keep")) {
        if (!(rc = bs_group_opt_double(cmd, o, v, 0.05, 1, &x))) ft->cfg.pfc_keep = x;
    } else if (!strcmp(o, "--augment")) {
        if (!strcmp(v, "pfc")) ft->cfg.augment = BS_FINETUNE_AUGMENT_PFC;
        else if (!strcmp(v, "none")) ft->cfg.augment = BS_FINETUNE_AUGMENT_NONE;
        else {
            fprintf(stderr, "brainstage: evaluate: --augment '%s': expected pfc or none\n", v);
            rc = BS_ERR_USAGE;
        }
    } else
        *handled = 0;
    return rc;
}

/* The model trained on every subject, written to a temporary next to
 * `path` (renamed in by the caller once the reports are written). */
static int save_final_model(const bs_eval_config *cfg, const bs_features *f, const bs_labels *lab,
                            bs_finetune_learner *fl, const char *path, char **tmp_out, bs_error *err)
{
    *tmp_out = NULL;
    char *tmp = bs_temp_path_for(path, err);
    if (!tmp)
        return err->code ? (int)err->code : BS_ERR_NOMEM;
    int rc;
    if (fl) {
        bs_finetune_config c = fl->cfg;
        c.seed = cfg->seed;
        bs_finetune *ft = bs_finetune_new(fl->pretrained, &fl->arch, lab->n_classes,
                                          (const char *const *)lab->class_names, &c, err);
        int64_t *rows = malloc(sizeof(int64_t) * (size_t)f->n);
        rc = ft && rows ? BS_OK : (err->code ? (int)err->code : BS_ERR_NOMEM);
        for (int64_t i = 0; rc == BS_OK && i < f->n; i++)
            rows[i] = i;
        if (rc == BS_OK)
            rc = bs_finetune_fit(ft, fl->data, rows, f->n, lab->y, NULL, err);
        if (rc == BS_OK)
            rc = bs_finetune_save(ft, tmp, err);
        free(rows);
        bs_finetune_free(ft);
    } else {
        bs_head *h = lab->y ? bs_head_fit_classifier(&cfg->head, f->X, f->n, f->d, lab->y, lab->n_classes,
                                                     (const char *const *)lab->class_names, err)
                            : bs_head_fit_regressor(&cfg->head, f->X, f->n, f->d, lab->target, err);
        rc = h ? bs_head_save(h, tmp, err) : (err->code ? (int)err->code : BS_ERR_DATA);
        bs_head_free(h);
    }
    if (rc) {
        unlink(tmp);
        free(tmp);
        return bs_error_prefix(err, "evaluate: model on all subjects: ");
    }
    *tmp_out = tmp;
    return BS_OK;
}

static char *join(const char *prefix, const char *suffix)
{
    size_t len = strlen(prefix) + strlen(suffix) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s", prefix, suffix);
    return p;
}

/* Prints the table row (and header) of one evaluation. */
static void print_row(const bs_eval_result *res, const bs_eval_config *cfg, const char *name, const char *head,
                      int no_header)
{
    if (!no_header) {
        printf("%-14s %-8s %-9s %5s %6s", "features", "head", "protocol", "n", "d");
        for (int m = 0; m < res->n_metrics; m++)
            printf("  %-15s", res->metric_names[m]);
        printf("\n");
    }
    char proto[32];
    if (cfg->protocol == BS_EVAL_FEWSHOT)
        snprintf(proto, sizeof proto, "%d-shot", cfg->shots);
    else
        snprintf(proto, sizeof proto, "%d-fold", cfg->folds);
    printf("%-14s %-8s %-9s %5lld %6lld", name, head, proto, (long long)res->n, (long long)res->d);
    for (int m = 0; m < res->n_metrics; m++) {
        char cell[40];
        snprintf(cell, sizeof cell, "%.3f ± %.3f", res->mean[m], res->sd[m]);
        printf("  %-16s", cell); /* ± is two bytes in UTF-8 */
    }
    printf("\n");
    fflush(stdout);
}

int bs_cmd_evaluate(const bs_cli *cli, int argc, char **argv)
{
    const char *cmd = "evaluate", *features = NULL, *participants = NULL, *label = "group", *head = "logreg";
    const char *out = NULL, *name = NULL, *suffix = BS_GROUP_TS_SUFFIX, *save_model = NULL;
    long long folds = 5, shots = 0, repeats = 10;
    double C = 0;
    int no_header = 0;
    bs_strlist fc_inputs = {0};
    finetune_opts fto = {0};
    bs_finetune_config_default(&fto.cfg);
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, handled = 0;
        if (!strcmp(o, "--fc-inputs")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                bs_strlist_push(&fc_inputs, argv[++i]);
            continue;
        }
        if (!strcmp(o, "--no-header") || !strcmp(o, "--freeze") || !strcmp(o, "--from-scratch")) {
            if (o[2] == 'n')
                no_header = 1;
            else if (o[3] == 'r')
                fto.cfg.freeze_encoder = 1;
            else
                fto.from_scratch = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "brainstage: evaluate: %s needs a value\n", o);
            bs_strlist_free(&fc_inputs);
            return BS_ERR_USAGE;
        }
        i++;
        if (!strcmp(o, "--features")) features = v;
        else if (!strcmp(o, "--participants")) participants = v;
        else if (!strcmp(o, "--label")) label = v;
        else if (!strcmp(o, "--head")) head = v;
        else if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--name")) name = v;
        else if (!strcmp(o, "--suffix")) suffix = v;
        else if (!strcmp(o, "--save-model")) save_model = v;
        else if (!strcmp(o, "--folds")) rc = bs_group_opt_int(cmd, o, v, 2, 1000, &folds);
        else if (!strcmp(o, "--shots")) rc = bs_group_opt_int(cmd, o, v, 1, 100000, &shots);
        else if (!strcmp(o, "--repeats")) rc = bs_group_opt_int(cmd, o, v, 1, 100000, &repeats);
        else if (!strcmp(o, "--C")) rc = bs_group_opt_double(cmd, o, v, 1e-12, 1e12, &C);
        else if (!(rc = parse_finetune_opt(o, v, &fto, &handled)) && !handled) {
            fprintf(stderr, "brainstage: evaluate: unknown option '%s'\n", o);
            evaluate_usage();
            rc = BS_ERR_USAGE;
        }
        if (rc) {
            bs_strlist_free(&fc_inputs);
            return rc;
        }
    }
    bs_head_kind kind = bs_head_kind_parse(head);
    const int finetune = kind == BS_HEAD_FINETUNE;
    const char *why = NULL;
    if ((!features) == (!fc_inputs.n) || !participants || !out)
        why = "give one of --features or --fc-inputs, and --participants and --out";
    else if (kind == BS_HEAD_NONE)
        why = "unknown --head (logreg, svm, mlp, ridge, centroid, finetune)";
    else if (finetune && (!fto.model || features))
        why = "--head finetune needs --model (a pretrained BrainMass checkpoint) and --fc-inputs (ROI time series)";
    else if (!finetune && fto.model)
        why = "--model is for --head finetune";
    if (why) {
        fprintf(stderr, "brainstage: evaluate: %s\n", why);
        evaluate_usage();
        bs_strlist_free(&fc_inputs);
        return BS_ERR_USAGE;
    }

    bs_error err = {0};
    bs_features f = {0};
    bs_labels lab = {0};
    bs_eval_result res = {0};
    bs_finetune_data ftd = {0};
    bs_brainmass *pre = NULL;
    bs_finetune_learner fl = {0};
    bs_eval_learner learner;
    int rc = BS_OK;
    if (finetune) {
        fto.cfg.seed = cli->seed;
        rc = bs_finetune_config_validate(&fto.cfg, &err);
        if (rc == BS_OK && !(pre = bs_brainmass_load(fto.model, BS_BRAINMASS_LOAD_INFERENCE, &err)))
            rc = err.code ? err.code : BS_ERR_IO;
        if (rc == BS_OK)
            rc = finetune_inputs(&fc_inputs, suffix, fto.cfg.augment == BS_FINETUNE_AUGMENT_PFC ? fto.cfg.pfc_keep : 0,
                                 cli->seed ^ 0x66742d706663ull, &ftd, &f, &err);
        if (rc == BS_OK && bs_brainmass_get_config(pre)->rois != ftd.rois)
            rc = bs_error_set(&err, BS_ERR_DATA, "%s: the model has %d ROIs, the inputs have %d (one atlas for both)",
                              fto.model, bs_brainmass_get_config(pre)->rois, ftd.rois);
        f.n = ftd.n_subjects;
        f.d = (int64_t)ftd.rois * ftd.rois;
    } else {
        rc = features ? bs_features_read(features, &f, &err) : fc_features(&fc_inputs, suffix, &f, &err);
    }
    bs_strlist_free(&fc_inputs);
    if (rc == BS_OK)
        rc = bs_labels_from_participants(participants, label,
                                         kind == BS_HEAD_RIDGE ? BS_LABELS_CONTINUOUS : BS_LABELS_CLASSES,
                                         (const char *const *)f.ids, f.n, &lab, &err);
    if (rc == BS_OK && kind != BS_HEAD_RIDGE && lab.n_classes < 2)
        rc = bs_error_set(&err, BS_ERR_DATA, "%s: column %s has one class only among the %lld subjects", participants,
                          label, (long long)f.n);
    bs_eval_config cfg;
    bs_eval_config_default(&cfg, kind);
    cfg.folds = (int)folds;
    cfg.seed = cli->seed;
    cfg.head.seed = cli->seed;
    if (C > 0)
        cfg.head.C = C;
    if (shots) {
        cfg.protocol = BS_EVAL_FEWSHOT;
        cfg.shots = (int)shots;
        cfg.repeats = (int)repeats;
    }
    if (finetune && rc == BS_OK) {
        fl.pretrained = fto.from_scratch ? NULL : pre;
        fl.arch = *bs_brainmass_get_config(pre);
        fl.data = &ftd;
        fl.cfg = fto.cfg;
        bs_finetune_learner_init(&fl, &learner);
        cfg.learner = &learner;
    }
    if (rc == BS_OK)
        rc = bs_evaluate(&cfg, f.X, f.n, f.d, &lab, &res, &err);

    /* all outputs or none: the model goes to a temporary first */
    char *model_tmp = NULL;
    if (rc == BS_OK && save_model && (rc = bs_group_mkparent(save_model, &err)) == BS_OK)
        rc = save_final_model(&cfg, &f, &lab, finetune ? &fl : NULL, save_model, &model_tmp, &err);
    char *p_tsv = join(out, "_metrics.tsv"), *p_json = join(out, "_metrics.json"), *p_pred = join(out, "_predictions.tsv");
    int wrote_tsv = 0, wrote_json = 0, wrote_pred = 0;
    if (rc == BS_OK && (!p_tsv || !p_json || !p_pred))
        rc = BS_ERR_NOMEM;
    if (rc == BS_OK)
        rc = bs_group_mkparent(p_tsv, &err);
    if (rc == BS_OK && (rc = bs_eval_write_tsv(&res, p_tsv, &err)) == BS_OK)
        wrote_tsv = 1;
    if (rc == BS_OK && (rc = bs_eval_write_json(&res, &cfg, &lab, p_json, &err)) == BS_OK)
        wrote_json = 1;
    if (rc == BS_OK && cfg.protocol == BS_EVAL_KFOLD &&
        (rc = bs_eval_write_predictions(&res, &lab, (const char *const *)f.ids, p_pred, &err)) == BS_OK)
        wrote_pred = 1;
    if (rc == BS_OK && model_tmp)
        rc = bs_rename_into_place(model_tmp, save_model, &err);
    if (rc) {
        if (wrote_tsv)
            unlink(p_tsv);
        if (wrote_json)
            unlink(p_json);
        if (wrote_pred)
            unlink(p_pred);
        if (model_tmp)
            unlink(model_tmp);
    }
    if (rc == BS_OK)
        print_row(&res, &cfg, name ? name : features ? "features" : "fc", head, no_header);
    free(model_tmp);
    free(p_tsv);
    free(p_json);
    free(p_pred);
    bs_eval_result_free(&res);
    bs_labels_free(&lab);
    bs_features_free(&f);
    bs_finetune_data_free(&ftd);
    bs_brainmass_free(pre);
    if (rc)
        return bs_cli_fail(&err);
    return 0;
}
