/* heads_mlp.c - one-hidden-layer ReLU classifier trained with Adam.
 *
 * logits = W2 relu(W1 x + b1) + b2, softmax cross-entropy, weight decay
 * 0.5 * alpha * (|W1|^2 + |W2|^2) added to the mean minibatch loss (biases
 * are not decayed).  Init like PyTorch's nn.Linear: U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) for weights and biases.  Minibatches are drawn by a
 * seeded shuffle each epoch, so a fit is reproducible for a seed. */
#include "brainstage/heads_internal.h"
#include "brainstage/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t bs_mlp_work_size(int64_t m, int hidden, int k) { return m * (2 * (int64_t)hidden + k); }

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
    memset(grad, 0, sizeof(double) * (size_t)np);
    double loss = 0, inv_m = 1.0 / (double)m;
    for (int64_t r = 0; r < m; r++) {
        const double *x = Xs + idx[r] * d;
        double *hr = H + r * hidden, *pr = P + r * k;
        for (int u = 0; u < hidden; u++) {
            double s = b1[u];
            const double *w = W1 + (int64_t)u * d;
            for (int64_t j = 0; j < d; j++)
                s += w[j] * x[j];
            hr[u] = s > 0 ? s : 0;
        }
        double mx = -INFINITY;
        for (int c = 0; c < k; c++) {
            double s = b2[c];
            const double *w = W2 + (int64_t)c * hidden;
            for (int u = 0; u < hidden; u++)
                s += w[u] * hr[u];
            pr[c] = s;
            mx = fmax(mx, s);
        }
        double z = 0;
        for (int c = 0; c < k; c++)
            z += exp(pr[c] - mx);
        double lse = mx + log(z);
        loss += lse - pr[y[idx[r]]];
        for (int c = 0; c < k; c++)
            pr[c] = (exp(pr[c] - lse) - (c == y[idx[r]])) * inv_m; /* dL/dlogit */
    }
    /* Output layer and backprop into the hidden layer. */
    for (int64_t r = 0; r < m; r++) {
        const double *hr = H + r * hidden, *pr = P + r * k;
        double *dh = dH + r * hidden;
        for (int u = 0; u < hidden; u++)
            dh[u] = 0;
        for (int c = 0; c < k; c++) {
            gb2[c] += pr[c];
            double *gw = gW2 + (int64_t)c * hidden;
            const double *w = W2 + (int64_t)c * hidden;
            for (int u = 0; u < hidden; u++) {
                gw[u] += pr[c] * hr[u];
                dh[u] += pr[c] * w[u];
            }
        }
        for (int u = 0; u < hidden; u++)
            if (hr[u] <= 0)
                dh[u] = 0; /* ReLU'(0) = 0, as PyTorch */
    }
    for (int64_t r = 0; r < m; r++) {
        const double *x = Xs + idx[r] * d, *dh = dH + r * hidden;
        for (int u = 0; u < hidden; u++) {
            if (dh[u] == 0)
                continue;
            gb1[u] += dh[u];
            double *gw = gW1 + (int64_t)u * d;
            for (int64_t j = 0; j < d; j++)
                gw[j] += dh[u] * x[j];
        }
    }
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
