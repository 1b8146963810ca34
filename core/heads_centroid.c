/* heads_centroid.c - nearest class centroid by cosine similarity.
 *
 * Each (standardised) support row is scaled to unit length, the rows of a
 * class are averaged and the mean is scaled to unit length again: the
 * class prototype.  A query's score for a class is the cosine between the
 * query and the prototype; probabilities are softmax(cosine / T).  No
 * optimisation, so it works from one labelled example per class. */
#include "brainstage/heads_internal.h"

#include <math.h>
#include <stdlib.h>

int bs_head_fit_centroid(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                         const int32_t *y, bs_error *err)
{
    int K = h->n_classes;
    int64_t d = h->d;
    if (!(p->temperature > 0))
        return bs_error_set(err, BS_ERR_USAGE, "head centroid: temperature must be > 0, got %g",
                            p->temperature);
    h->n_out = K;
    h->temperature = p->temperature;
    h->weight = calloc((size_t)(K * d), sizeof(double));
    h->bias = calloc((size_t)K, sizeof(double));
    if (!h->weight || !h->bias)
        return bs_error_set(err, BS_ERR_NOMEM, "head centroid: out of memory");
    for (int64_t i = 0; i < n; i++) {
        const double *x = Xs + i * d;
        double ss = 0;
        for (int64_t j = 0; j < d; j++)
            ss += x[j] * x[j];
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0; /* an all-zero row adds nothing */
        double *c = h->weight + (int64_t)y[i] * d;
        for (int64_t j = 0; j < d; j++)
            c[j] += x[j] * inv;
    }
    for (int k = 0; k < K; k++) {
        double *c = h->weight + (int64_t)k * d;
        double ss = 0;
        for (int64_t j = 0; j < d; j++)
            ss += c[j] * c[j];
        if (ss > 0)
            for (int64_t j = 0; j < d; j++)
                c[j] /= sqrt(ss);
    }
    h->converged = 1;
    return BS_OK;
}
