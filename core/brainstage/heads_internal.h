/* brainstage/heads_internal.h - helpers shared by the head implementations
 * (core/heads*.c).  Not installed; not part of the public API. */
#ifndef BRAINSTAGE_HEADS_INTERNAL_H
#define BRAINSTAGE_HEADS_INTERNAL_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/heads.h"

/* Objective for the L-BFGS minimiser: returns f(x) and fills grad. */
typedef double (*bs_lbfgs_fn)(const double *x, double *grad, void *ctx);

typedef struct bs_lbfgs_report {
    int iterations;
    int converged;       /* max |grad| <= gtol reached */
    double f, gmax;
} bs_lbfgs_report;

/* Minimises fn from x (updated in place) with limited-memory BFGS (memory
 * m) and a weak-Wolfe bisection line search.  Stops when max |grad| <=
 * gtol, after max_iter iterations, or when no step decreases f any more.
 * Returns BS_OK or BS_ERR_NOMEM / BS_ERR_NUMERIC (non-finite objective). */
int bs_lbfgs_minimize(int64_t nx, double *x, bs_lbfgs_fn fn, void *ctx, int max_iter, double gtol,
                      int m, bs_lbfgs_report *rep, bs_error *err);

/* Allocates an empty head of a kind with the scaler filled from X (or
 * left NULL when !standardize), and returns the transformed training
 * matrix (double [n, d], caller frees) in *Xs. */
bs_head *bs_head_begin(bs_head_kind kind, int standardize, const float *X, int64_t n, int64_t d,
                       double **Xs, bs_error *err);
/* Applies the head's scaler to X into out (double [n, d]). */
void bs_head_transform(const bs_head *h, const float *X, int64_t n, double *out);

/* Kind-specific fits; Xs is already standardised.  They fill h's weights. */
int bs_head_fit_logreg(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                       const int32_t *y, bs_error *err);
int bs_head_fit_svm(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                    const int32_t *y, bs_error *err);
int bs_head_fit_mlp(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                    const int32_t *y, bs_error *err);
int bs_head_fit_centroid(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                         const int32_t *y, bs_error *err);
/* Ridge centres Xs in place (scratch owned by the caller). */
int bs_head_fit_ridge(bs_head *h, const bs_head_params *p, double *Xs, int64_t n,
                      const double *target, bs_error *err);

/* MLP loss (mean cross-entropy + 0.5 * decay * |W|^2 over both weight
 * matrices) and its gradient over the flat parameter vector
 * [W1 (h*d), b1 (h), W2 (k*h), b2 (k)] for the rows idx[0..m).  Exposed so
 * the test can check gradients by finite differences. */
double bs_mlp_loss_grad(const double *theta, double *grad, const double *Xs, int64_t d,
                        const int32_t *y, const int64_t *idx, int64_t m, int hidden, int k,
                        double decay, double *work);
/* Work buffer size (doubles) bs_mlp_loss_grad needs for m rows. */
int64_t bs_mlp_work_size(int64_t m, int hidden, int k);

/* Multinomial / binary logistic mean loss and gradient over [W (K*d), b (K)];
 * exposed for the gradient test.  K = 1 means binary (sigmoid). */
double bs_logreg_loss_grad(const double *theta, double *grad, const double *Xs, int64_t n,
                           int64_t d, const int32_t *y, int K, double C, double *work);

/* Class names as the JSON array text of the brainstage.head.classes
 * metadata (malloc'd; NULL when a name is not valid UTF-8), and back:
 * *out receives n malloc'd strings (errors name path). */
char *bs_class_names_to_json(const char *const *names, int n);
int bs_class_names_from_json(const char *text, int n, const char *path, char ***out, bs_error *err);

/* Numerically safe log(1 + exp(z)). */
double bs_log1pexp(double z);

#endif
