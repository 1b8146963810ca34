/* heads_svm.c - linear SVM by dual coordinate descent (Hsieh et al. 2008).
 *
 * Primal: min_w 0.5 |w~|^2 + C sum_i loss(y_i w~'x~_i), x~ = [x, 1], so the
 * intercept is the last weight and is regularised, as in liblinear and
 * sklearn's LinearSVC (intercept_scaling = 1).  loss = hinge (box
 * constraint 0 <= a <= C) or squared hinge (a >= 0, diagonal 1/(2C)).
 * More than two classes: one-vs-rest, one binary problem per class. */
#include "brainstage/heads_internal.h"
#include "brainstage/log.h"
#include "brainstage/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Solves one binary problem; w has d+1 entries (last = intercept).
 * Returns passes used (> max_iter means not converged). */
static int solve_binary(const double *Xs, int64_t n, int64_t d, const int8_t *sign, double C,
                        bs_svm_loss loss, double eps, int max_iter, uint64_t seed, double *w,
                        double *alpha, double *qd, int32_t *order)
{
    double U = loss == BS_SVM_HINGE ? C : INFINITY;
    double diag = loss == BS_SVM_HINGE ? 0.0 : 0.5 / C;
    memset(w, 0, sizeof(double) * (size_t)(d + 1));
    for (int64_t i = 0; i < n; i++) {
        alpha[i] = 0;
        const double *x = Xs + i * d;
        double s = 1.0 + diag; /* the bias feature contributes 1^2 */
        for (int64_t j = 0; j < d; j++)
            s += x[j] * x[j];
        qd[i] = s;
        order[i] = (int32_t)i;
    }
    bs_rng *rng = bs_rng_new(seed);
    int pass;
    for (pass = 0; pass < max_iter; pass++) {
        bs_rng_partial_shuffle(rng, order, (int32_t)n, (int32_t)n);
        double pgmax = -INFINITY, pgmin = INFINITY;
        for (int64_t k = 0; k < n; k++) {
            int64_t i = order[k];
            const double *x = Xs + i * d;
            double yi = sign[i];
            double f = w[d];
            for (int64_t j = 0; j < d; j++)
                f += w[j] * x[j];
            double G = yi * f - 1.0 + diag * alpha[i];
            double pg = G;
            if (alpha[i] == 0)
                pg = fmin(G, 0.0);
            else if (alpha[i] == U)
                pg = fmax(G, 0.0);
            pgmax = fmax(pgmax, pg);
            pgmin = fmin(pgmin, pg);
            if (fabs(pg) > 1e-12) {
                double old = alpha[i];
                double a = fmin(fmax(old - G / qd[i], 0.0), U);
                alpha[i] = a;
                double step = (a - old) * yi;
                for (int64_t j = 0; j < d; j++)
                    w[j] += step * x[j];
                w[d] += step;
            }
        }
        if (pgmax - pgmin <= eps)
            break;
    }
    bs_rng_free(rng);
    return pass + 1;
}

int bs_head_fit_svm(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                    const int32_t *y, bs_error *err)
{
    int K = h->n_classes == 2 ? 1 : h->n_classes;
    int64_t d = h->d;
    h->n_out = K;
    h->weight = calloc((size_t)(K * d), sizeof(double));
    h->bias = calloc((size_t)K, sizeof(double));
    double *w = malloc(sizeof(double) * (size_t)(d + 1));
    double *alpha = malloc(sizeof(double) * (size_t)n);
    double *qd = malloc(sizeof(double) * (size_t)n);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)n);
    int8_t *sign = malloc((size_t)n);
    int rc = BS_OK;
    if (!h->weight || !h->bias || !w || !alpha || !qd || !order || !sign) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "head svm: out of memory");
        goto done;
    }
    int max_iter = p->max_iter > 0 ? p->max_iter : 10000;
    double eps = p->tol > 0 ? p->tol : 1e-4;
    h->converged = 1;
    for (int c = 0; c < K; c++) {
        int positive = K == 1 ? 1 : c;
        for (int64_t i = 0; i < n; i++)
            sign[i] = y[i] == positive ? 1 : -1;
        int passes = solve_binary(Xs, n, d, sign, p->C, p->svm_loss, eps, max_iter,
                                  bs_splitmix64(p->seed + (uint64_t)c), w, alpha, qd, order);
        if (passes > max_iter) {
            h->converged = 0;
            bs_log(BS_LOG_WARN, "head svm: class %d: dual coordinate descent did not reach tol %.3g in %d passes",
                   c, eps, max_iter);
        }
        if (passes > h->iterations)
            h->iterations = passes;
        memcpy(h->weight + (int64_t)c * d, w, sizeof(double) * (size_t)d);
        h->bias[c] = w[d];
    }
done:
    free(w);
    free(alpha);
    free(qd);
    free(order);
    free(sign);
    return rc;
}
