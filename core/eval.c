/* eval.c - bs_evaluate: one head per train/test split, metrics per split. */
#include "brainstage/eval.h"
#include "brainstage/log.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bs_eval_config_default(bs_eval_config *cfg, bs_head_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    bs_head_params_default(&cfg->head, kind);
    cfg->protocol = BS_EVAL_KFOLD;
    cfg->folds = 5;
    cfg->shots = 10;
    cfg->repeats = 10;
    cfg->seed = 42;
}

void bs_eval_result_free(bs_eval_result *r)
{
    if (!r)
        return;
    free(r->values);
    free(r->n_train);
    free(r->n_test);
    free(r->oof_scores);
    free(r->oof_split);
    memset(r, 0, sizeof *r);
}

/* The class's name, or its index when the labels carry no names. */
static const char *class_name(const bs_labels *l, int c)
{
    static _Thread_local char buf[4][16];
    static _Thread_local int slot;
    if (l->class_names && l->class_names[c])
        return l->class_names[c];
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%d", c);
    return buf[slot];
}

/* Class counts with the user's class names in the message, before the
 * split builders (which only know indices) would complain. */
static int check_class_counts(const bs_eval_config *cfg, const bs_labels *l, bs_error *err)
{
    int64_t *count = calloc((size_t)l->n_classes, sizeof *count);
    if (!count)
        return bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
    for (int64_t i = 0; i < l->n; i++)
        count[l->y[i]]++;
    int rc = BS_OK;
    for (int c = 0; c < l->n_classes && rc == BS_OK; c++) {
        if (cfg->protocol == BS_EVAL_KFOLD && count[c] < cfg->folds)
            rc = bs_error_set(err, BS_ERR_DATA,
                              "evaluate: class '%s' has %lld subjects, fewer than the %d folds (a test fold "
                              "would hold no '%s'); use fewer folds",
                              class_name(l, c), (long long)count[c], cfg->folds, class_name(l, c));
        else if (cfg->protocol == BS_EVAL_FEWSHOT && count[c] <= cfg->shots)
            rc = bs_error_set(err, BS_ERR_DATA,
                              "evaluate: class '%s' has %lld subjects; %d-shot needs at least %d (one to test)",
                              class_name(l, c), (long long)count[c], cfg->shots, cfg->shots + 1);
    }
    free(count);
    return rc;
}

/* Every split must train on all classes and (classification) test on all
 * classes, else AUC and balanced accuracy are undefined. */
static int check_split_classes(const bs_splits *s, const bs_labels *l, bs_error *err)
{
    int k = l->n_classes;
    uint8_t *seen = malloc((size_t)(2 * k));
    if (!seen)
        return bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
    int rc = BS_OK;
    for (int sp = 0; sp < s->n_splits && rc == BS_OK; sp++) {
        memset(seen, 0, (size_t)(2 * k));
        const uint8_t *role = s->role + (int64_t)sp * s->n;
        for (int64_t i = 0; i < s->n; i++) {
            if (role[i] == BS_SPLIT_TRAIN)
                seen[l->y[i]] = 1;
            else if (role[i] == BS_SPLIT_TEST)
                seen[k + l->y[i]] = 1;
        }
        for (int c = 0; c < k && rc == BS_OK; c++) {
            if (!seen[c])
                rc = bs_error_set(err, BS_ERR_DATA, "evaluate: split %d: no training subject of class '%s'", sp,
                                  class_name(l, c));
            else if (!seen[k + c])
                rc = bs_error_set(err, BS_ERR_DATA,
                                  "evaluate: split %d: no test subject of class '%s' (AUC undefined); "
                                  "stratify the folds",
                                  sp, class_name(l, c));
        }
    }
    free(seen);
    return rc;
}

static void summarise(bs_eval_result *r)
{
    for (int m = 0; m < r->n_metrics; m++) {
        double s = 0;
        for (int sp = 0; sp < r->n_splits; sp++)
            s += r->values[sp * r->n_metrics + m];
        double mean = s / r->n_splits, ss = 0;
        for (int sp = 0; sp < r->n_splits; sp++) {
            double t = r->values[sp * r->n_metrics + m] - mean;
            ss += t * t;
        }
        r->mean[m] = mean;
        r->sd[m] = r->n_splits > 1 ? sqrt(ss / (r->n_splits - 1)) : 0.0;
    }
}

/* Trains the split's model on its training rows and fills scores [nte, ns]
 * for its test rows: a bs_head on the copied feature rows, or the learner on
 * the row indices. */
static int fit_and_score(const bs_eval_config *cfg, const bs_labels *l, int sp, int64_t d, const float *Xtr,
                         int64_t ntr, const int32_t *ytr, const double *ttr, const int64_t *train_rows,
                         const float *Xte, int64_t nte, const int64_t *test_rows, double *scores, int *ns,
                         bs_error *err)
{
    uint64_t seed = bs_splitmix64(cfg->seed ^ bs_splitmix64(cfg->head.seed + (uint64_t)sp + 1));
    int rc;
    if (cfg->learner) {
        const bs_eval_learner *lr = cfg->learner;
        void *model = lr->fit(lr->user, train_rows, ntr, ytr, l->n_classes, (const char *const *)l->class_names,
                              seed, err);
        if (!model)
            return bs_error_prefix(err, "evaluate: split %d: ", sp);
        *ns = l->n_classes;
        rc = lr->scores(lr->user, model, test_rows, nte, scores, err);
        lr->release(lr->user, model);
    } else {
        bs_head_params hp = cfg->head;
        hp.seed = seed;
        bs_head *h = l->y ? bs_head_fit_classifier(&hp, Xtr, ntr, d, ytr, l->n_classes,
                                                   (const char *const *)l->class_names, err)
                          : bs_head_fit_regressor(&hp, Xtr, ntr, d, ttr, err);
        if (!h)
            return bs_error_prefix(err, "evaluate: split %d: ", sp);
        *ns = bs_head_n_scores(h);
        rc = bs_head_scores(h, Xte, nte, scores, err);
        bs_head_free(h);
    }
    return rc == BS_OK ? BS_OK : bs_error_prefix(err, "evaluate: split %d: ", sp);
}

/* Fits on the split's training rows and fills its metrics. */
static int run_split(const bs_eval_config *cfg, const float *X, int64_t d, const bs_labels *l,
                     const uint8_t *role, int sp, bs_eval_result *r, float *Xtr, float *Xte, int32_t *ytr,
                     double *ttr, int64_t *train_rows, int64_t *test_rows, double *scores, bs_error *err)
{
    int64_t n = l->n, ntr = 0, nte = 0;
    const int copy = cfg->learner == NULL; /* a learner reads its own inputs by row */
    for (int64_t i = 0; i < n; i++) {
        if (role[i] == BS_SPLIT_TRAIN) {
            if (copy)
                memcpy(Xtr + ntr * d, X + i * d, sizeof(float) * (size_t)d);
            if (l->y)
                ytr[ntr] = l->y[i];
            else
                ttr[ntr] = l->target[i];
            train_rows[ntr++] = i;
        } else if (role[i] == BS_SPLIT_TEST) {
            if (copy)
                memcpy(Xte + nte * d, X + i * d, sizeof(float) * (size_t)d);
            test_rows[nte++] = i;
        }
    }
    r->n_train[sp] = ntr;
    r->n_test[sp] = nte;
    if (ntr == 0 || nte == 0)
        return bs_error_set(err, BS_ERR_DATA, "evaluate: split %d has %lld training and %lld test subjects", sp,
                            (long long)ntr, (long long)nte);
    int ns = 0;
    int rc = fit_and_score(cfg, l, sp, d, Xtr, ntr, ytr, ttr, train_rows, Xte, nte, test_rows, scores, &ns, err);
    if (rc != BS_OK)
        return rc;
    double *v = r->values + (int64_t)sp * r->n_metrics;
    if (l->y) {
        int32_t *yt = malloc(sizeof(int32_t) * (size_t)nte), *yp = malloc(sizeof(int32_t) * (size_t)nte);
        if (!yt || !yp) {
            free(yt);
            free(yp);
            return bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
        }
        for (int64_t t = 0; t < nte; t++) {
            yt[t] = l->y[test_rows[t]];
            int best = 0;
            for (int c = 1; c < ns; c++)
                if (scores[t * ns + c] > scores[t * ns + best])
                    best = c;
            yp[t] = best;
        }
        v[0] = bs_metric_accuracy(yt, yp, nte);
        v[1] = bs_metric_balanced_accuracy(yt, yp, nte, l->n_classes);
        v[2] = bs_metric_auc(yt, scores, nte, l->n_classes);
        v[3] = bs_metric_f1_macro(yt, yp, nte, l->n_classes);
        free(yt);
        free(yp);
    } else {
        double *yt = malloc(sizeof(double) * (size_t)nte);
        if (!yt)
            return bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
        for (int64_t t = 0; t < nte; t++)
            yt[t] = l->target[test_rows[t]];
        v[0] = bs_metric_mae(yt, scores, nte);
        v[1] = bs_metric_pearson(yt, scores, nte);
        v[2] = bs_metric_r2(yt, scores, nte);
        free(yt);
    }
    if (r->oof_scores)
        for (int64_t t = 0; t < nte; t++) {
            memcpy(r->oof_scores + test_rows[t] * ns, scores + t * ns, sizeof(double) * (size_t)ns);
            r->oof_split[test_rows[t]] = sp;
        }
    return BS_OK;
}

int bs_evaluate(const bs_eval_config *cfg, const float *X, int64_t n, int64_t d, const bs_labels *labels,
                bs_eval_result *res, bs_error *err)
{
    memset(res, 0, sizeof *res);
    if (!labels || labels->n != n)
        return bs_error_set(err, BS_ERR_DATA, "evaluate: %lld feature rows but %lld labels", (long long)n,
                            labels ? (long long)labels->n : 0LL);
    if (n < 2 || d < 1)
        return bs_error_set(err, BS_ERR_DATA, "evaluate: need at least 2 subjects and 1 feature (got %lld x %lld)",
                            (long long)n, (long long)d);
    int classify = labels->n_classes >= 2;
    if (classify && !labels->y)
        return bs_error_set(err, BS_ERR_INTERNAL, "evaluate: class labels without class indices");
    if (!classify && !labels->target)
        return bs_error_set(err, BS_ERR_DATA, "evaluate: labels hold neither classes nor a continuous target");
    if (!classify && cfg->head.kind != BS_HEAD_RIDGE)
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: continuous target '%s' needs head ridge, not %s",
                            labels->column ? labels->column : "", bs_head_kind_name(cfg->head.kind));
    if (cfg->learner && (!classify || !cfg->learner->fit || !cfg->learner->scores || !cfg->learner->release))
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: learner %s needs class labels and fit/scores/release",
                            cfg->learner->name ? cfg->learner->name : "?");
    if (!cfg->learner && !X)
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: no feature matrix");
    if (classify && cfg->head.kind == BS_HEAD_RIDGE)
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: head ridge is for continuous targets; '%s' has %d classes",
                            labels->column ? labels->column : "labels", labels->n_classes);

    bs_splits own = {0};
    const bs_splits *splits = &own;
    int rc = BS_OK;
    switch (cfg->protocol) {
    case BS_EVAL_KFOLD:
        if (cfg->folds < 2)
            return bs_error_set(err, BS_ERR_USAGE, "evaluate: need at least 2 folds, got %d", cfg->folds);
        if (n < cfg->folds)
            return bs_error_set(err, BS_ERR_DATA, "evaluate: %lld subjects are fewer than the %d folds",
                                (long long)n, cfg->folds);
        if (classify) {
            if ((rc = check_class_counts(cfg, labels, err)) != BS_OK)
                return rc;
            rc = bs_splits_stratified_kfold(labels->y, n, labels->n_classes, cfg->folds, cfg->seed, &own, err);
        } else {
            rc = bs_splits_kfold(n, cfg->folds, cfg->seed, &own, err);
        }
        break;
    case BS_EVAL_FEWSHOT:
        if (!classify)
            return bs_error_set(err, BS_ERR_USAGE, "evaluate: few-shot needs class labels, '%s' is continuous",
                                labels->column ? labels->column : "target");
        if ((rc = check_class_counts(cfg, labels, err)) != BS_OK)
            return rc;
        rc = bs_splits_fewshot(labels->y, n, labels->n_classes, cfg->shots, cfg->repeats, cfg->seed, &own, err);
        break;
    case BS_EVAL_SPLITS:
        if (!cfg->splits || cfg->splits->n != n || cfg->splits->n_splits < 1)
            return bs_error_set(err, BS_ERR_USAGE, "evaluate: explicit splits missing or not %lld rows long",
                                (long long)n);
        splits = cfg->splits;
        break;
    default:
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: unknown protocol %d", (int)cfg->protocol);
    }
    if (rc != BS_OK)
        return rc;
    if (classify && (rc = check_split_classes(splits, labels, err)) != BS_OK)
        goto done;

    int S = splits->n_splits;
    int ns = classify ? labels->n_classes : 1;
    res->kind = cfg->head.kind;
    res->protocol = cfg->protocol;
    res->n_splits = S;
    res->n = n;
    res->d = d;
    res->n_scores = ns;
    static const char *const cls_names[] = {"acc", "balanced_acc", "auc", "f1_macro"};
    static const char *const reg_names[] = {"mae", "pearson_r", "r2"};
    res->n_metrics = classify ? 4 : 3;
    for (int m = 0; m < res->n_metrics; m++)
        res->metric_names[m] = classify ? cls_names[m] : reg_names[m];
    res->values = calloc((size_t)S * (size_t)res->n_metrics, sizeof(double));
    res->n_train = calloc((size_t)S, sizeof(int64_t));
    res->n_test = calloc((size_t)S, sizeof(int64_t));
    int kfold_like = cfg->protocol != BS_EVAL_FEWSHOT;
    if (kfold_like) {
        res->oof_scores = malloc(sizeof(double) * (size_t)(n * ns));
        res->oof_split = malloc(sizeof(int32_t) * (size_t)n);
    }
    size_t cells = cfg->learner ? 1 : (size_t)n * (size_t)d;
    float *Xtr = bs_alloc_floats(cells), *Xte = bs_alloc_floats(cells);
    int64_t *train_rows = malloc(sizeof(int64_t) * (size_t)n);
    int32_t *ytr = malloc(sizeof(int32_t) * (size_t)n);
    double *ttr = malloc(sizeof(double) * (size_t)n);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)n);
    double *scores = malloc(sizeof(double) * (size_t)(n * ns));
    if (!res->values || !res->n_train || !res->n_test || (kfold_like && (!res->oof_scores || !res->oof_split)) ||
        !Xtr || !Xte || !ytr || !ttr || !rows || !train_rows || !scores) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory for %lld x %lld features", (long long)n,
                          (long long)d);
    } else {
        if (kfold_like) {
            for (int64_t i = 0; i < n * ns; i++)
                res->oof_scores[i] = NAN;
            for (int64_t i = 0; i < n; i++)
                res->oof_split[i] = -1;
        }
        bs_progress_begin("evaluate", S);
        for (int sp = 0; sp < S && rc == BS_OK; sp++) {
            rc = run_split(cfg, X, d, labels, splits->role + (int64_t)sp * n, sp, res, Xtr, Xte, ytr, ttr,
                           train_rows, rows, scores, err);
            bs_progress_update(sp + 1);
        }
        bs_progress_end();
    }
    bs_free(Xtr);
    bs_free(Xte);
    free(ytr);
    free(ttr);
    free(rows);
    free(train_rows);
    free(scores);
    if (rc == BS_OK)
        summarise(res);
done:
    bs_splits_free(&own);
    if (rc != BS_OK)
        bs_eval_result_free(res);
    return rc;
}
