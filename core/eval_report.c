/* eval_report.c - evaluation results as TSV and JSON, written atomically. */
#include "brainstage/eval.h"
#include "brainstage/fileio.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *protocol_name(bs_eval_protocol p)
{
    switch (p) {
    case BS_EVAL_KFOLD: return "kfold";
    case BS_EVAL_FEWSHOT: return "fewshot";
    case BS_EVAL_SPLITS: return "splits";
    }
    return "unknown";
}

static void put_value(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, "\t%.10g", v);
    else
        fputs("\tn/a", fp);
}

static void tsv_body(const bs_eval_result *r, FILE *fp)
{
    fputs("split\tn_train\tn_test", fp);
    for (int m = 0; m < r->n_metrics; m++)
        fprintf(fp, "\t%s", r->metric_names[m]);
    fputc('\n', fp);
    for (int sp = 0; sp < r->n_splits; sp++) {
        fprintf(fp, "%d\t%lld\t%lld", sp, (long long)r->n_train[sp], (long long)r->n_test[sp]);
        for (int m = 0; m < r->n_metrics; m++)
            put_value(fp, r->values[sp * r->n_metrics + m]);
        fputc('\n', fp);
    }
    fputs("mean\tn/a\tn/a", fp);
    for (int m = 0; m < r->n_metrics; m++)
        put_value(fp, r->mean[m]);
    fputs("\nsd\tn/a\tn/a", fp);
    for (int m = 0; m < r->n_metrics; m++)
        put_value(fp, r->sd[m]);
    fputc('\n', fp);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *json_report(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels)
{
    json_t *root = json_object();
    const bs_eval_learner *lr = cfg ? cfg->learner : NULL;
    json_object_set_new(root, "head", json_string(lr && lr->name ? lr->name : bs_head_kind_name(r->kind)));
    json_object_set_new(root, "protocol", json_string(protocol_name(r->protocol)));
    json_object_set_new(root, "n_subjects", json_integer(r->n));
    json_object_set_new(root, "n_features", json_integer(r->d));
    json_object_set_new(root, "n_splits", json_integer(r->n_splits));
    if (cfg) {
        json_object_set_new(root, "seed", json_integer((json_int_t)cfg->seed));
        if (cfg->protocol == BS_EVAL_KFOLD)
            json_object_set_new(root, "folds", json_integer(cfg->folds));
        if (cfg->protocol == BS_EVAL_FEWSHOT) {
            json_object_set_new(root, "shots", json_integer(cfg->shots));
            json_object_set_new(root, "repeats", json_integer(cfg->repeats));
        }
        json_error_t jerr;
        json_t *hp = lr && lr->params_json ? json_loads(lr->params_json, 0, &jerr) : NULL;
        if (!json_is_object(hp)) {
            json_decref(hp);
            hp = json_object();
        }
        if (!lr)
            json_object_set_new(hp, "standardize", json_boolean(cfg->head.standardize));
        switch (lr ? BS_HEAD_NONE : cfg->head.kind) {
        case BS_HEAD_LOGREG:
            json_object_set_new(hp, "C", json_real(cfg->head.C));
            break;
        case BS_HEAD_SVM:
            json_object_set_new(hp, "C", json_real(cfg->head.C));
            json_object_set_new(hp, "loss",
                                json_string(cfg->head.svm_loss == BS_SVM_HINGE ? "hinge" : "squared_hinge"));
            break;
        case BS_HEAD_RIDGE:
            json_object_set_new(hp, "alpha", json_real(cfg->head.alpha));
            break;
        case BS_HEAD_MLP:
            json_object_set_new(hp, "hidden", json_integer(cfg->head.mlp_hidden));
            json_object_set_new(hp, "lr", json_real(cfg->head.mlp_lr));
            json_object_set_new(hp, "epochs", json_integer(cfg->head.max_iter));
            json_object_set_new(hp, "batch", json_integer(cfg->head.mlp_batch));
            json_object_set_new(hp, "weight_decay", json_real(cfg->head.alpha));
            break;
        case BS_HEAD_CENTROID:
            json_object_set_new(hp, "temperature", json_real(cfg->head.temperature));
            break;
        default:
            break;
        }
        json_object_set_new(root, "head_params", hp);
    }
    if (labels) {
        if (labels->column)
            json_object_set_new(root, "target", json_string(labels->column));
        if (labels->n_classes > 0) {
            json_t *cls = json_array();
            for (int c = 0; c < labels->n_classes; c++)
                json_array_append_new(cls, json_string(labels->class_names[c]));
            json_object_set_new(root, "classes", cls);
        }
    }
    json_t *ntr = json_array(), *nte = json_array();
    for (int sp = 0; sp < r->n_splits; sp++) {
        json_array_append_new(ntr, json_integer(r->n_train[sp]));
        json_array_append_new(nte, json_integer(r->n_test[sp]));
    }
    json_object_set_new(root, "n_train", ntr);
    json_object_set_new(root, "n_test", nte);
    json_t *metrics = json_object();
    for (int m = 0; m < r->n_metrics; m++) {
        json_t *mo = json_object(), *per = json_array();
        for (int sp = 0; sp < r->n_splits; sp++)
            json_array_append_new(per, num(r->values[sp * r->n_metrics + m]));
        json_object_set_new(mo, "per_split", per);
        json_object_set_new(mo, "mean", num(r->mean[m]));
        json_object_set_new(mo, "sd", num(r->sd[m]));
        json_object_set_new(metrics, r->metric_names[m], mo);
    }
    json_object_set_new(root, "metrics", metrics);
    return root;
}

static int json_body(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels, FILE *fp)
{
    json_t *root = json_report(r, cfg, labels);
    int rc = json_dumpf(root, fp, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(root);
    return rc == 0 && fputc('\n', fp) != EOF ? 0 : -1;
}

static void predictions_body(const bs_eval_result *r, const bs_labels *labels, const char *const *ids, FILE *fp)
{
    int classify = labels->n_classes >= 2;
    fputs("participant_id\tsplit\ttrue\tpredicted", fp);
    if (classify)
        for (int c = 0; c < r->n_scores; c++)
            fprintf(fp, "\tscore_%s", labels->class_names[c]);
    fputc('\n', fp);
    for (int64_t i = 0; i < r->n; i++) {
        const double *s = r->oof_scores + i * r->n_scores;
        if (ids)
            fprintf(fp, "%s", ids[i]);
        else
            fprintf(fp, "%lld", (long long)i);
        if (r->oof_split[i] < 0) {
            fputs("\tn/a", fp);
        } else {
            fprintf(fp, "\t%d", (int)r->oof_split[i]);
        }
        if (classify) {
            fprintf(fp, "\t%s", labels->class_names[labels->y[i]]);
            if (r->oof_split[i] < 0) {
                fputs("\tn/a", fp);
            } else {
                int best = 0;
                for (int c = 1; c < r->n_scores; c++)
                    if (s[c] > s[best])
                        best = c;
                fprintf(fp, "\t%s", labels->class_names[best]);
            }
            for (int c = 0; c < r->n_scores; c++)
                put_value(fp, s[c]);
        } else {
            fprintf(fp, "\t%.10g", labels->target[i]);
            put_value(fp, s[0]);
        }
        fputc('\n', fp);
    }
}

/* Writes up to three reports so that either all appear or none: every
 * file is written to its temporary first, and only when all succeeded are
 * they renamed into place. */
int bs_eval_write_all(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels,
                      const char *const *ids, const char *tsv_path, const char *json_path, const char *pred_path,
                      bs_error *err)
{
    if (pred_path && !r->oof_scores)
        return bs_error_set(err, BS_ERR_USAGE, "%s: predictions exist only for k-fold style evaluations", pred_path);
    if (pred_path && !labels)
        return bs_error_set(err, BS_ERR_USAGE, "%s: predictions need the labels", pred_path);
    const char *paths[3] = {tsv_path, json_path, pred_path};
    bs_atomic_file f[3];
    int opened[3] = {0, 0, 0}, rc = BS_OK;
    for (int i = 0; i < 3 && rc == BS_OK; i++) {
        if (!paths[i])
            continue;
        rc = bs_atomic_open(&f[i], paths[i], err);
        if (rc != BS_OK)
            break;
        opened[i] = 1;
        int bad = 0;
        if (i == 0)
            tsv_body(r, f[i].fp);
        else if (i == 1)
            bad = json_body(r, cfg, labels, f[i].fp);
        else
            predictions_body(r, labels, ids, f[i].fp);
        if (bad || ferror(f[i].fp))
            rc = bs_error_set(err, BS_ERR_IO, "%s: write failed", paths[i]);
    }
    for (int i = 0; i < 3 && rc == BS_OK; i++)
        if (opened[i]) {
            opened[i] = 0;
            rc = bs_atomic_commit(&f[i], err);
        }
    for (int i = 0; i < 3; i++)
        if (opened[i])
            bs_atomic_abort(&f[i]);
    return rc;
}

int bs_eval_write_tsv(const bs_eval_result *r, const char *path, bs_error *err)
{
    return bs_eval_write_all(r, NULL, NULL, NULL, path, NULL, NULL, err);
}

int bs_eval_write_json(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels,
                       const char *path, bs_error *err)
{
    return bs_eval_write_all(r, cfg, labels, NULL, NULL, path, NULL, err);
}

int bs_eval_write_predictions(const bs_eval_result *r, const bs_labels *labels, const char *const *ids,
                              const char *path, bs_error *err)
{
    return bs_eval_write_all(r, NULL, labels, ids, NULL, NULL, path, err);
}
