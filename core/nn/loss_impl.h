/* nn/loss_impl.h - MSE, cosine / BYOL, cross-entropy / InfoNCE; type-generic
 * body (instantiated by loss.c; see real_begin.h). */
#include "nn/real_begin.h"

double FN(nn_mse_forward)(const real *pred, const real *target, const real *weight,
                          size_t n, double scale)
{
    double s = 0;
    /* One serial sum keeps the loss bit-identical across thread counts. */
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += (weight ? (double)weight[i] : 1.0) * d * d;
    }
    return scale * s;
}

void FN(nn_mse_backward)(real *dpred, real *dtarget, const real *pred, const real *target,
                         const real *weight, size_t n, double scale, double dloss)
{
    real k = (real)(2.0 * scale * dloss);
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        real g = k * (weight ? weight[i] : 1) * (pred[i] - target[i]);
        if (dpred)
            dpred[i] += g;
        if (dtarget)
            dtarget[i] -= g;
    }
}

/* Norms are clamped below by eps like F.normalize. */
void FN(nn_cosine_forward)(real *cos, const real *a, const real *b, int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * D > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *ar = a + (size_t)n * D, *br = b + (size_t)n * D;
        double aa = 0, bb = 0, ab = 0;
        for (int j = 0; j < D; j++) {
            aa += (double)ar[j] * ar[j];
            bb += (double)br[j] * br[j];
            ab += (double)ar[j] * br[j];
        }
        double na = fmax(sqrt(aa), (double)eps), nb = fmax(sqrt(bb), (double)eps);
        cos[n] = (real)(ab / (na * nb));
    }
}

void FN(nn_cosine_backward)(real *da, real *db, const real *dcos, const real *a, const real *b,
                            int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * D > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *ar = a + (size_t)n * D, *br = b + (size_t)n * D;
        double aa = 0, bb = 0, ab = 0;
        for (int j = 0; j < D; j++) {
            aa += (double)ar[j] * ar[j];
            bb += (double)br[j] * br[j];
            ab += (double)ar[j] * br[j];
        }
        double la = sqrt(aa), lb = sqrt(bb);
        double na = fmax(la, (double)eps), nb = fmax(lb, (double)eps);
        double c = ab / (na * nb), g = dcos[n];
        /* d cos / d a = b/(na nb) - c a/na^2 when ||a|| > eps; else the norm
         * is the constant eps and only the first term remains. */
        double ka = la > eps ? c / (na * na) : 0, kb = lb > eps ? c / (nb * nb) : 0;
        double inv = 1.0 / (na * nb);
        for (int j = 0; j < D; j++) {
            if (da)
                da[(size_t)n * D + j] += (real)(g * (br[j] * inv - ka * ar[j]));
            if (db)
                db[(size_t)n * D + j] += (real)(g * (ar[j] * inv - kb * br[j]));
        }
    }
}

double FN(nn_byol_loss_forward)(real *cos, const real *p, const real *z, int N, int D)
{
    real *c = cos ? cos : malloc(sizeof(real) * (size_t)N);
    FN(nn_cosine_forward)(c, p, z, N, D, 1e-12f);
    double s = 0;
    for (int n = 0; n < N; n++)
        s += 2.0 - 2.0 * (double)c[n];
    if (!cos)
        free(c);
    return s / N;
}

void FN(nn_byol_loss_backward)(real *dp, real *dz, const real *p, const real *z,
                               int N, int D, double dloss)
{
    real *g = malloc(sizeof(real) * (size_t)N);
    for (int n = 0; n < N; n++)
        g[n] = (real)(-2.0 * dloss / N);
    FN(nn_cosine_backward)(dp, dz, g, p, z, N, D, 1e-12f);
    free(g);
}

double FN(nn_cross_entropy_forward)(real *probs, const real *logits, const int32_t *targets,
                                    int N, int C)
{
    FN(nn_softmax_forward)(probs, logits, N, C);
    double s = 0;
    int counted = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        /* log p from the logits (log-sum-exp) stays finite when p underflows */
        const real *l = logits + (size_t)n * C;
        double mx = l[0];
        for (int c = 1; c < C; c++)
            mx = l[c] > mx ? l[c] : mx;
        double se = 0;
        for (int c = 0; c < C; c++)
            se += exp((double)l[c] - mx);
        s += mx + log(se) - (double)l[targets[n]];
        counted++;
    }
    return counted ? s / counted : 0.0;
}

void FN(nn_cross_entropy_backward)(real *dlogits, const real *probs, const int32_t *targets,
                                   int N, int C, double dloss)
{
    int counted = 0;
    for (int n = 0; n < N; n++)
        counted += targets[n] >= 0;
    if (!counted)
        return;
    real k = (real)(dloss / counted);
#pragma omp parallel for schedule(static) if ((size_t)N * C > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        const real *pr = probs + (size_t)n * C;
        real *d = dlogits + (size_t)n * C;
        for (int c = 0; c < C; c++)
            d[c] += k * (pr[c] - (c == targets[n] ? 1 : 0));
    }
}

int FN(nn_argmax_correct)(const real *logits, const int32_t *targets, int N, int C)
{
    int correct = 0;
    for (int n = 0; n < N; n++) {
        const real *l = logits + (size_t)n * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (l[c] > l[best])
                best = c;
        correct += targets[n] >= 0 && best == targets[n];
    }
    return correct;
}

#include "nn/real_end.h"
