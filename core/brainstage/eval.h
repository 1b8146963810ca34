/* brainstage/eval.h - evaluating heads: labels, splits, metrics, reports.
 *
 * The group-level CLI (`brainstage evaluate`) does, in order:
 *   bs_features_read()         feature matrix [n, d] + row ids (TSV or safetensors)
 *   bs_labels_from_participants()  labels for those rows from participants.tsv
 *   bs_evaluate()              k-fold CV or few-shot, one head per split
 *   bs_eval_write_tsv/json()   per-split metrics + mean and sd, atomically
 * Every step reports bad input as a one-line bs_error.  See docs/heads.md. */
#ifndef BRAINSTAGE_EVAL_H
#define BRAINSTAGE_EVAL_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/heads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metrics (sklearn semantics; see docs/heads.md) ------------------- */

/* Fraction of y_pred == y_true. */
double bs_metric_accuracy(const int32_t *y_true, const int32_t *y_pred, int64_t n);
/* Mean recall over the classes present in y_true. */
double bs_metric_balanced_accuracy(const int32_t *y_true, const int32_t *y_pred, int64_t n, int n_classes);
/* Macro F1 over the classes present in y_true or y_pred; a class with no
 * true positives scores 0. */
double bs_metric_f1_macro(const int32_t *y_true, const int32_t *y_pred, int64_t n, int n_classes);
/* Binary ROC AUC of score for positive = (is_pos[i] != 0), by mid-ranks
 * (ties count 1/2).  NaN when one of the two groups is empty. */
double bs_metric_auc_binary(const uint8_t *is_pos, const double *score, int64_t n);
/* One-vs-rest macro AUC from scores[n, n_classes] (column c scores class c);
 * binary (n_classes == 2): the AUC of column 1.  NaN if a class is absent. */
double bs_metric_auc(const int32_t *y_true, const double *scores, int64_t n, int n_classes);
double bs_metric_mae(const double *y_true, const double *y_pred, int64_t n);
/* Pearson correlation; NaN when either side is constant. */
double bs_metric_pearson(const double *a, const double *b, int64_t n);
/* Coefficient of determination 1 - SS_res / SS_tot (NaN if y_true constant). */
double bs_metric_r2(const double *y_true, const double *y_pred, int64_t n);

/* ---- labels and features -------------------------------------------- */

typedef struct bs_labels {
    int64_t n;
    int n_classes;          /* >= 2: classification; 0: continuous target */
    char **class_names;     /* n_classes, sorted (numerically if all parse as numbers) */
    int32_t *y;             /* [n] class index (classification) or NULL */
    double *target;         /* [n] value (regression) or NULL */
    char *column;           /* participants.tsv column name */
} bs_labels;

typedef enum bs_label_kind {
    BS_LABELS_AUTO = 0,         /* numeric with > 10 distinct values -> continuous */
    BS_LABELS_CLASSES = 1,
    BS_LABELS_CONTINUOUS = 2
} bs_label_kind;

/* Labels for the rows `ids` (with or without the "sub-" prefix) from the
 * BIDS participants.tsv `path`, column `column`.  Errors (one line): no
 * participant_id or no such column; an id absent from the table; a subject
 * whose cell is empty or n/a; fewer than 2 classes; a non-numeric value in
 * a continuous column. */
int bs_labels_from_participants(const char *path, const char *column, bs_label_kind kind,
                                const char *const *ids, int64_t n, bs_labels *out, bs_error *err);
/* Labels from strings (already matched to rows); the same class rules. */
int bs_labels_from_strings(const char *const *values, int64_t n, bs_label_kind kind, const char *what,
                           bs_labels *out, bs_error *err);
void bs_labels_free(bs_labels *l);

typedef struct bs_features {
    int64_t n, d;
    float *X;               /* [n, d] row-major, bs_alloc_floats */
    char **ids;             /* [n] row ids (participant ids), owned */
} bs_features;

/* Reads a feature matrix:
 *  - .tsv: header row; first column the participant id (any name), the
 *    other columns numeric features;
 *  - .safetensors: 2-D tensor "features" (or the only tensor) [n, d], ids in
 *    __metadata__ "participant_id" as a JSON array of n strings. */
int bs_features_read(const char *path, bs_features *out, bs_error *err);
void bs_features_free(bs_features *f);

/* Upper triangle (i < j, row-major, numpy triu_indices(r, 1) order) of each
 * of the n matrices fc[n, r, r] into out[n, r(r-1)/2]: the classical FC
 * baseline feature vector. */
int64_t bs_fc_vector_length(int64_t r);
void bs_fc_vectorize(const float *fc, int64_t n, int64_t r, float *out);

/* ---- splits ---------------------------------------------------------- */

enum { BS_SPLIT_UNUSED = 0, BS_SPLIT_TRAIN = 1, BS_SPLIT_TEST = 2 };

typedef struct bs_splits {
    int n_splits;
    int64_t n;
    uint8_t *role;          /* [n_splits, n]: BS_SPLIT_* per row */
} bs_splits;

/* Stratified k-fold: each class's rows are shuffled (seeded) and dealt
 * round-robin to the folds, continuing across classes, so per-class counts
 * per fold differ by at most one and fold sizes by at most one.  Errors if
 * n < k, k < 2, or a class has fewer than k rows (a test fold would miss it). */
int bs_splits_stratified_kfold(const int32_t *y, int64_t n, int n_classes, int k, uint64_t seed,
                               bs_splits *out, bs_error *err);
/* Shuffled (seeded) k-fold for continuous targets. */
int bs_splits_kfold(int64_t n, int k, uint64_t seed, bs_splits *out, bs_error *err);
/* Splits from an explicit fold id per row (0..k-1), e.g. sklearn's folds. */
int bs_splits_from_folds(const int32_t *fold, int64_t n, bs_splits *out, bs_error *err);
/* Few-shot: for each of `repeats` draws, exactly `shots` training rows per
 * class (seeded, stream r for repeat r), every other row is test.  Errors
 * if a class has <= shots rows (no test row would remain). */
int bs_splits_fewshot(const int32_t *y, int64_t n, int n_classes, int shots, int repeats, uint64_t seed,
                      bs_splits *out, bs_error *err);
void bs_splits_free(bs_splits *s);

/* ---- evaluation ------------------------------------------------------ */

typedef enum bs_eval_protocol {
    BS_EVAL_KFOLD = 0,      /* stratified (classes) or shuffled (regression) k-fold */
    BS_EVAL_FEWSHOT = 1,    /* `shots` labelled rows per class, `repeats` draws */
    BS_EVAL_SPLITS = 2      /* caller-provided splits (cfg->splits) */
} bs_eval_protocol;

/* A classifier that is not a bs_head on a feature matrix -- e.g. a
 * pretrained encoder fine-tuned per split (brainstage/brainmass_finetune.h)
 * -- trained and applied on row indices, so it can use inputs richer than
 * one feature row (time series, pFC views).  fit() sees only the split's
 * training rows; scores() returns class probabilities [n, n_classes]. */
typedef struct bs_eval_learner {
    const char *name;           /* reported as "head" */
    const char *params_json;    /* JSON object reported as "head_params", or NULL */
    void *user;
    void *(*fit)(void *user, const int64_t *rows, int64_t n, const int32_t *y, int n_classes,
                 const char *const *class_names, uint64_t seed, bs_error *err);
    int (*scores)(void *user, void *model, const int64_t *rows, int64_t n, double *scores, bs_error *err);
    void (*release)(void *user, void *model);
} bs_eval_learner;

typedef struct bs_eval_config {
    bs_head_params head;
    bs_eval_protocol protocol;
    int folds;              /* k-fold: k (default 5) */
    int shots;              /* few-shot: rows per class (default 10) */
    int repeats;            /* few-shot: draws (default 10) */
    uint64_t seed;          /* splits; head seeds derive from it per split */
    const bs_splits *splits;/* BS_EVAL_SPLITS only (borrowed) */
    const bs_eval_learner *learner; /* NULL: cfg->head on X; else this learner (X unused,
                                     * may be NULL; classification only) (borrowed) */
} bs_eval_config;

void bs_eval_config_default(bs_eval_config *cfg, bs_head_kind kind);

#define BS_EVAL_MAX_METRICS 8

typedef struct bs_eval_result {
    bs_head_kind kind;
    bs_eval_protocol protocol;
    int n_splits;
    int n_metrics;
    const char *metric_names[BS_EVAL_MAX_METRICS]; /* static strings */
    double *values;         /* [n_splits, n_metrics] */
    double mean[BS_EVAL_MAX_METRICS];
    double sd[BS_EVAL_MAX_METRICS];   /* sample sd (n-1); 0 for one split */
    int64_t *n_train, *n_test;        /* [n_splits] */
    int64_t n, d;
    int n_scores;           /* columns of oof_scores */
    double *oof_scores;     /* k-fold: out-of-fold scores [n, n_scores] (NaN if never tested) */
    int32_t *oof_split;     /* k-fold: split that tested each row (-1 if none) */
} bs_eval_result;

/* Trains one head (or cfg->learner model) per split on the training rows
 * and scores the test rows.  Classification (labels->n_classes >= 2): acc, balanced_acc, auc,
 * f1_macro.  Regression: mae, pearson_r, r2.  X is float32 [n, d]. */
int bs_evaluate(const bs_eval_config *cfg, const float *X, int64_t n, int64_t d, const bs_labels *labels,
                bs_eval_result *res, bs_error *err);
void bs_eval_result_free(bs_eval_result *r);

/* TSV: column "split" (0..S-1, then "mean" and "sd"), n_train, n_test and
 * one column per metric; written atomically. */
int bs_eval_write_tsv(const bs_eval_result *r, const char *path, bs_error *err);
/* JSON: configuration, classes and for each metric its per-split values,
 * mean and sd (NaN as null); written atomically. */
int bs_eval_write_json(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels,
                       const char *path, bs_error *err);
/* Out-of-fold predictions (k-fold): participant_id, split, true label,
 * predicted label, one score column per class.  ids may be NULL (row index). */
int bs_eval_write_predictions(const bs_eval_result *r, const bs_labels *labels, const char *const *ids,
                              const char *path, bs_error *err);

/* All-or-nothing: each non-NULL path is written to a temporary first and
 * the files are renamed into place only once all were written. */
int bs_eval_write_all(const bs_eval_result *r, const bs_eval_config *cfg, const bs_labels *labels,
                      const char *const *ids, const char *tsv_path, const char *json_path, const char *pred_path,
                      bs_error *err);

/* ---- the whole group-level step in one call ---------------------------- */

typedef struct bs_eval_run_options {
    const char *features;       /* .tsv or .safetensors (bs_features_read) */
    const char *participants;   /* BIDS participants.tsv */
    const char *column;         /* label column in it */
    bs_label_kind label_kind;   /* AUTO: continuous for head ridge, classes otherwise */
    bs_eval_config eval;
    const char *out_prefix;     /* writes <prefix>_metrics.tsv, <prefix>_metrics.json and,
                                 * for k-fold, <prefix>_predictions.tsv; NULL: no files */
    const char *save_head;      /* optional: a head trained on all subjects, saved here */
} bs_eval_run_options;

/* Reads features and labels, evaluates, writes the reports (all or none)
 * and optionally saves a head fitted on every subject.  res may be NULL;
 * otherwise the caller frees it with bs_eval_result_free. */
int bs_eval_run(const bs_eval_run_options *o, bs_eval_result *res, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
