/* heads_mlp.c - one-hidden-layer ReLU classifier trained with Adam.
 *
 * logits = W2 relu(W1 x + b1) + b2, softmax cross-entropy, weight decay
 * 0.5 * alpha * (|W1|^2 + |W2|^2) added to the mean minibatch loss (biases
 * are not decayed).  Init like PyTorch's nn.Linear: U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) for weights and biases.  Minibatches are drawn by a
 * seeded shuffle each epoch, so a fit is reproducible for a seed. */
#include "brainstage/heads_internal.h"
#include "brainstage/rng.h"

#include <cblas.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t bs_mlp_work_size(int64_t m, int hidden, int k) { return m * (2 * (int64_t)hidden + k + 1); }

/* The minibatch rows are gathered into a contiguous block so every product
 * is one dgemm: the MLP on vectorised FC (d in the thousands) is
 * matrix-multiply bound. */
double bs_mlp_loss_grad(const double *theta, double *grad, const double *Xs, int64_t d,
                        const int32_t *y, const int64_t *idx, int64_t m, int hidden, int k,
                        double decay, double *work)
{
    const double *W1 = theta, *b1 = W1 + (int64_t)hidden * d;
    const double *W2 = b1 + hidden, *b2 = W2 + (int64_t)k * hidden;
    int64_t np = (int64_t)hidden * d + hidden + (int64_t)k * hidden + k;
    double *gW1 = grad, *gb1 = gW1 + (int64_t)hidden * d;
    double *gW2 = gb1 + hidden, *gb2 = gW2 + (int64_t)k * hidden;
    double *H = work, *P = work + m * hidden, *dH = P + m * k;
    int contiguous = 1;
    for (int64_t r = 0; r < m; r++)
        contiguous &= idx[r] == idx[0] + r;
    const double *Xb = Xs + idx[0] * d;
    double *gathered = NULL;
    if (!contiguous) {
        gathered = malloc(sizeof(double) * (size_t)(m * d));
        if (!gathered)
            return NAN;
        for (int64_t r = 0; r < m; r++)
            memcpy(gathered + r * d, Xs + idx[r] * d, sizeof(double) * (size_t)d);
        Xb = gathered;
    }
    int M = (int)m, Hn = hidden, D = (int)d;
    /* H = relu(Xb W1' + b1) */
    for (int64_t r = 0; r < m; r++)
        memcpy(H + r * hidden, b1, sizeof(double) * (size_t)hidden);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, Hn, D, 1.0, Xb, D, W1, D, 1.0, H, Hn);
    for (int64_t j = 0; j < m * hidden; j++)
        if (H[j] < 0)
            H[j] = 0;
    /* logits = H W2' + b2 */
    for (int64_t r = 0; r < m; r++)
        memcpy(P + r * k, b2, sizeof(double) * (size_t)k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, k, Hn, 1.0, H, Hn, W2, Hn, 1.0, P, k);
    double loss = 0, inv_m = 1.0 / (double)m;
    for (int64_t r = 0; r < m; r++) {
        double *pr = P + r * k;
        double mx = pr[0];
        for (int c = 1; c < k; c++)
            mx = fmax(mx, pr[c]);
        double z = 0;
        for (int c = 0; c < k; c++)
            z += exp(pr[c] - mx);
        double lse = mx + log(z);
        int yr = y[idx[r]];
        loss += lse - pr[yr];
        for (int c = 0; c < k; c++)
            pr[c] = (exp(pr[c] - lse) - (c == yr)) * inv_m; /* dL/dlogit */
    }
    memset(grad, 0, sizeof(double) * (size_t)np);
    /* Output layer: gW2 = P' H, gb2 = colsum P, dH = P W2 masked by ReLU'. */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, Hn, M, 1.0, P, k, H, Hn, 0.0, gW2, Hn);
    for (int64_t r = 0; r < m; r++)
        for (int c = 0; c < k; c++)
            gb2[c] += P[r * k + c];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, Hn, k, 1.0, P, k, W2, Hn, 0.0, dH, Hn);
    for (int64_t j = 0; j < m * hidden; j++)
        if (H[j] <= 0)
            dH[j] = 0; /* ReLU'(0) = 0, as PyTorch */
    /* Hidden layer: gW1 = dH' Xb, gb1 = colsum dH. */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Hn, D, M, 1.0, dH, Hn, Xb, D, 0.0, gW1, D);
    for (int64_t r = 0; r < m; r++)
        for (int u = 0; u < hidden; u++)
            gb1[u] += dH[r * hidden + u];
    free(gathered);
    double wn = 0;
    for (int64_t j = 0; j < (int64_t)hidden * d; j++) {
        wn += W1[j] * W1[j];
        gW1[j] += decay * W1[j];
    }
    for (int64_t j = 0; j < (int64_t)k * hidden; j++) {
        wn += W2[j] * W2[j];
        gW2[j] += decay * W2[j];
    }
    return loss * inv_m + 0.5 * decay * wn;
}

int bs_head_fit_mlp(bs_head *h, const bs_head_params *p, const double *Xs, int64_t n,
                    const int32_t *y, bs_error *err)
{
    int64_t d = h->d;
    int K = h->n_classes, H = p->mlp_hidden > 0 ? p->mlp_hidden : 64;
    if (!(p->mlp_lr > 0))
        return bs_error_set(err, BS_ERR_USAGE, "head mlp: learning rate must be > 0, got %g", p->mlp_lr);
    h->n_out = K;
    h->hidden = H;
    int64_t np = (int64_t)H * d + H + (int64_t)K * H + K;
    int64_t batch = p->mlp_batch > 0 && p->mlp_batch < n ? p->mlp_batch : n;
    double *theta = malloc(sizeof(double) * (size_t)np);
    double *grad = malloc(sizeof(double) * (size_t)np);
    double *m1 = calloc((size_t)np, sizeof(double));
    double *m2 = calloc((size_t)np, sizeof(double));
    double *work = malloc(sizeof(double) * (size_t)bs_mlp_work_size(batch, H, K));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    bs_rng *rng = bs_rng_new(p->seed);
    int rc = BS_OK;
    if (!theta || !grad || !m1 || !m2 || !work || !idx || !perm || !rng) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "head mlp: out of memory for %lld parameters", (long long)np);
        goto done;
    }
    /* Initialisation, layer by layer, in parameter order. */
    double a1 = 1.0 / sqrt((double)d), a2 = 1.0 / sqrt((double)H);
    for (int64_t j = 0; j < np; j++) {
        double a = j < (int64_t)H * d + H ? a1 : a2;
        theta[j] = (2.0 * bs_rng_uniform(rng) - 1.0) * a;
    }
    for (int64_t i = 0; i < n; i++)
        perm[i] = (int32_t)i;
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    int epochs = p->max_iter > 0 ? p->max_iter : 200;
    int64_t step = 0;
    for (int e = 0; e < epochs; e++) {
        bs_rng_partial_shuffle(rng, perm, (int32_t)n, (int32_t)n);
        for (int64_t start = 0; start < n; start += batch) {
            int64_t m = n - start < batch ? n - start : batch;
            for (int64_t r = 0; r < m; r++)
                idx[r] = perm[start + r];
            double loss = bs_mlp_loss_grad(theta, grad, Xs, d, y, idx, m, H, K, p->alpha, work);
            if (!isfinite(loss)) {
                rc = bs_error_set(err, BS_ERR_NUMERIC, "head mlp: loss became non-finite at epoch %d; lower lr",
                                  e + 1);
                goto done;
            }
            step++;
            double c1 = 1.0 - pow(beta1, (double)step), c2 = 1.0 - pow(beta2, (double)step);
            for (int64_t j = 0; j < np; j++) {
                m1[j] = beta1 * m1[j] + (1 - beta1) * grad[j];
                m2[j] = beta2 * m2[j] + (1 - beta2) * grad[j] * grad[j];
                theta[j] -= p->mlp_lr * (m1[j] / c1) / (sqrt(m2[j] / c2) + eps);
            }
        }
    }
    h->iterations = epochs;
    h->converged = 1;
    h->weight = malloc(sizeof(double) * (size_t)(H * d));
    h->bias = malloc(sizeof(double) * (size_t)H);
    h->weight2 = malloc(sizeof(double) * (size_t)(K * H));
    h->bias2 = malloc(sizeof(double) * (size_t)K);
    if (!h->weight || !h->bias || !h->weight2 || !h->bias2) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "head mlp: out of memory");
        goto done;
    }
    memcpy(h->weight, theta, sizeof(double) * (size_t)(H * d));
    memcpy(h->bias, theta + (int64_t)H * d, sizeof(double) * (size_t)H);
    memcpy(h->weight2, theta + (int64_t)H * d + H, sizeof(double) * (size_t)(K * H));
    memcpy(h->bias2, theta + (int64_t)H * d + H + (int64_t)K * H, sizeof(double) * (size_t)K);
done:
    free(theta);
    free(grad);
    free(m1);
    free(m2);
    free(work);
    free(idx);
    free(perm);
    bs_rng_free(rng);
    return rc;
}
