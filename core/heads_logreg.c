/* heads_logreg.c - L2-regularised logistic regression (binary / multinomial).
 *
 * Minimises (1/n) [ sum_i loss_i + |W|^2 / (2C) ], intercepts unpenalised:
 * the minimiser of sklearn's LogisticRegression(penalty='l2', C) with the
 * lbfgs solver (binary: one weight vector and the sigmoid; more classes:
 * one row per class and the softmax, i.e. multi_class='multinomial'). */
#include "brainstage/heads_internal.h"
#include "brainstage/log.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double bs_log1pexp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

double bs_logreg_loss_grad(const double *theta, double *grad, const double *Xs, int64_t n,
                           int64_t d, const int32_t *y, int K, double C, double *Z)
{
    const double *W = theta, *b = theta + (int64_t)K * d;
    double *gW = grad, *gb = grad + (int64_t)K * d;
    /* Z = Xs W' + b   [n, K] */
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < K; c++)
            Z[i * K + c] = b[c];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, K, (int)d, 1.0, Xs, (int)d, W, (int)d,
                1.0, Z, K);
    double loss = 0;
    if (K == 1) {
        for (int64_t i = 0; i < n; i++) {
            double z = Z[i];
            loss += bs_log1pexp(z) - (y[i] == 1 ? z : 0.0);
            /* dloss/dz = sigmoid(z) - y, computed without overflow */
            double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            Z[i] = p - (y[i] == 1);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double *z = Z + i * K;
            double mx = z[0];
            for (int c = 1; c < K; c++)
                mx = fmax(mx, z[c]);
            double s = 0;
            for (int c = 0; c < K; c++)
                s += exp(z[c] - mx);
            double lse = mx + log(s);
            loss += lse - z[y[i]];
            for (int c = 0; c < K; c++)
                z[c] = exp(z[c] - lse) - (c == y[i]);
        }
    }
    /* gW = (Z' Xs + W / C) / n ; gb = colsum(Z) / n */
    double inv_n = 1.0 / (double)n;
    memcpy(gW, W, sizeof(double) * (size_t)(K * d));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)d, (int)n, inv_n, Z, K, Xs, (int)d,
                inv_n / C, gW, (int)d);
    for (int c = 0; c < K; c++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += Z[i * K + c];
        gb[c] = s * inv_n;
    }
    double wn = 0;
    for (int64_t j = 0; j < (int64_t)K * d; j++)
        wn += W[j] * W[j];
    return (loss + 0.5 * wn / C) * inv_n;
}

typedef struct logreg_ctx {
    const double *Xs;
    int64_t n, d;
    const int32_t *y;
    int K;
    double C;
    double *Z;
} logreg_ctx;

static double logreg_fn(const double *theta, double *grad, void *vctx)
{
    logreg_ctx *c = vctx;
    return bs_logreg_loss_grad(theta, grad, c->Xs, c->n, c->d, c->y, c->K, c->C, c->Z);
}

int bs_head_fit_logreg(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                       const int32_t *y, bs_error *err)
{
    int K = h->n_classes == 2 ? 1 : h->n_classes;
    int64_t d = h->d, np = (int64_t)K * (d + 1);
    h->n_out = K;
    double *theta = calloc((size_t)np, sizeof(double));
    double *Z = malloc(sizeof(double) * (size_t)(n * K));
    if (!theta || !Z) {
        free(theta);
        free(Z);
        return bs_error_set(err, BS_ERR_NOMEM, "head logreg: out of memory");
    }
    logreg_ctx ctx = {Xs, n, d, y, K, p->C, Z};
    bs_lbfgs_report rep;
    int rc = bs_lbfgs_minimize(np, theta, logreg_fn, &ctx, p->max_iter > 0 ? p->max_iter : 1000,
                               p->tol > 0 ? p->tol : 1e-6, 10, &rep, err);
    free(Z);
    if (rc != BS_OK) {
        free(theta);
        return bs_error_prefix(err, "head logreg: ");
    }
    if (!rep.converged)
        bs_log(BS_LOG_WARN, "head logreg: L-BFGS stopped after %d iterations with max|grad| %.3g > tol %.3g",
               rep.iterations, rep.gmax, p->tol);
    h->iterations = rep.iterations;
    h->converged = rep.converged;
    h->weight = malloc(sizeof(double) * (size_t)(K * d));
    h->bias = malloc(sizeof(double) * (size_t)K);
    if (!h->weight || !h->bias) {
        free(theta);
        return bs_error_set(err, BS_ERR_NOMEM, "head logreg: out of memory");
    }
    memcpy(h->weight, theta, sizeof(double) * (size_t)(K * d));
    memcpy(h->bias, theta + (int64_t)K * d, sizeof(double) * (size_t)K);
    free(theta);
    return BS_OK;
}
