/* brainstage/heads.h - classifier and regression heads on feature matrices.
 *
 * A head maps a feature row (an embedding, or a vectorised FC matrix) to
 * class scores or a continuous value.  Kinds:
 *   logreg    L2 logistic regression, binary or multinomial (L-BFGS)
 *   svm       linear SVM, hinge or squared hinge, one-vs-rest (dual
 *             coordinate descent, as liblinear)
 *   mlp       one hidden ReLU layer, softmax output, Adam, seeded
 *   ridge     ridge regression for continuous targets (closed form)
 *   centroid  nearest class centroid by cosine similarity (prototypes from
 *             a support set; no optimisation)
 * With `standardize`, every head first z-scores features with the training
 * rows' mean and population standard deviation (sklearn's StandardScaler
 * inside a Pipeline); constant features get scale 1.
 *
 * Inputs are float32 row-major [n, d]; the fit and all arithmetic run in
 * double.  See docs/heads.md for objectives and the choices made. */
#ifndef BRAINSTAGE_HEADS_H
#define BRAINSTAGE_HEADS_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_head_kind {
    BS_HEAD_NONE = 0,
    BS_HEAD_LOGREG = 1,
    BS_HEAD_SVM = 2,
    BS_HEAD_MLP = 3,
    BS_HEAD_RIDGE = 4,
    BS_HEAD_CENTROID = 5,
    BS_HEAD_FINETUNE = 6   /* a fine-tuned BrainMass encoder + head: not a bs_head;
                            * trained and applied through brainstage/brainmass_finetune.h */
} bs_head_kind;

typedef enum bs_svm_loss {
    BS_SVM_HINGE = 0,          /* max(0, 1 - y f) */
    BS_SVM_SQUARED_HINGE = 1   /* max(0, 1 - y f)^2 (LinearSVC's default) */
} bs_svm_loss;

typedef struct bs_head_params {
    bs_head_kind kind;
    int standardize;       /* 1: z-score features with training statistics */
    double C;              /* logreg, svm: inverse L2 strength, sklearn's C */
    double alpha;          /* ridge: L2 strength (sklearn's alpha); mlp: weight decay */
    int max_iter;          /* logreg: L-BFGS iterations; svm: passes; mlp: epochs */
    double tol;            /* logreg: max |gradient| of the mean loss; svm: dual gap */
    bs_svm_loss svm_loss;
    int mlp_hidden;        /* hidden units */
    double mlp_lr;         /* Adam step size */
    int mlp_batch;         /* minibatch size (<= 0: full batch) */
    double temperature;    /* centroid: probabilities = softmax(cosine / T) */
    uint64_t seed;         /* svm visiting order, mlp init and batches */
} bs_head_params;

/* A trained head.  Fields are public so callers can inspect coefficients;
 * all arrays are owned by the head. */
typedef struct bs_head {
    bs_head_kind kind;
    int64_t d;             /* input features */
    int n_classes;         /* >= 2 for classifiers, 0 for regression */
    int n_out;             /* rows of weight: 1 for binary logreg/svm and ridge, else n_classes */
    int hidden;            /* mlp only */
    double *mean, *scale;  /* [d] each, NULL when not standardised */
    double *weight;        /* linear kinds [n_out, d]; mlp [hidden, d] */
    double *bias;          /* linear kinds [n_out]; mlp [hidden] */
    double *weight2;       /* mlp output layer [n_classes, hidden], else NULL */
    double *bias2;         /* mlp [n_classes], else NULL */
    double temperature;    /* centroid */
    char **class_names;    /* n_classes strings or NULL */
    int iterations;        /* optimiser iterations/epochs used by the fit */
    int converged;         /* 1 when the fit met its tolerance */
} bs_head;

/* Sensible defaults for `kind` (C = 1, alpha = 1 (ridge) or 1e-4 (mlp),
 * standardize = 1, tol 1e-6, 64 hidden units, lr 1e-3, batch 32, T = 0.1). */
void bs_head_params_default(bs_head_params *p, bs_head_kind kind);

/* "logreg", ...; parse returns BS_HEAD_NONE when unknown. */
const char *bs_head_kind_name(bs_head_kind kind);
bs_head_kind bs_head_kind_parse(const char *name);

/* Trains a classifier: y[i] in [0, n_classes), every class present,
 * n_classes >= 2.  class_names (may be NULL) are copied into the head. */
bs_head *bs_head_fit_classifier(const bs_head_params *p, const float *X, int64_t n, int64_t d,
                                const int32_t *y, int n_classes, const char *const *class_names,
                                bs_error *err);
/* Trains a regressor (kind ridge): target[n] finite. */
bs_head *bs_head_fit_regressor(const bs_head_params *p, const float *X, int64_t n, int64_t d,
                               const double *target, bs_error *err);
void bs_head_free(bs_head *h);

/* Columns of bs_head_scores: n_classes for classifiers, 1 for regression. */
int bs_head_n_scores(const bs_head *h);

/* scores[n, bs_head_n_scores]: class probabilities (logreg, mlp, centroid),
 * decision values (svm; binary: [-f, f]) or the predicted value (ridge).
 * The predicted class is the first argmax of a row. */
int bs_head_scores(const bs_head *h, const float *X, int64_t n, double *scores, bs_error *err);
/* Predicted class per row (classifiers) -- argmax of scores. */
int bs_head_predict_class(const bs_head *h, const float *X, int64_t n, int32_t *cls, bs_error *err);

/* Saves/loads a head as safetensors (F64 tensors; kind, classes and
 * hyper-parameters in __metadata__; see docs/heads.md).  Written atomically. */
int bs_head_save(const bs_head *h, const char *path, bs_error *err);
bs_head *bs_head_load(const char *path, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
