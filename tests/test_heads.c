/* test_heads.c - unit tests of the heads: finite-difference gradient checks
 * (logistic, MLP) in double precision, save/load round trip, error paths,
 * and seed determinism. */
#include "brainstage/heads.h"
#include "brainstage/heads_internal.h"
#include "brainstage/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
            printf(__VA_ARGS__);                                                                           \
            printf("\n");                                                                                  \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

static void make_data(bs_rng *rng, int64_t n, int64_t d, int k, float *X, int32_t *y)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % k);
        for (int64_t j = 0; j < d; j++)
            X[i * d + j] = (float)(bs_rng_gaussian(rng, 1.0) + (j < 3 ? 0.8 * y[i] : 0.0) + 2.0);
    }
}

/* Central differences of f at theta along every coordinate vs grad;
 * tolerance |fd - g| <= atol + rtol |g|. */
typedef double (*loss_fn)(const double *theta, double *grad, void *ctx);

static double max_fd_error(loss_fn f, void *ctx, double *theta, int64_t np, double h, double atol, double rtol)
{
    double *g = malloc(sizeof(double) * (size_t)np), *tmp = malloc(sizeof(double) * (size_t)np);
    f(theta, g, ctx);
    double worst = 0;
    for (int64_t j = 0; j < np; j++) {
        double keep = theta[j];
        theta[j] = keep + h;
        double fp = f(theta, tmp, ctx);
        theta[j] = keep - h;
        double fm = f(theta, tmp, ctx);
        theta[j] = keep;
        double fd = (fp - fm) / (2 * h);
        double excess = fabs(fd - g[j]) - (atol + rtol * fabs(g[j]));
        if (excess > worst)
            worst = excess;
    }
    free(g);
    free(tmp);
    return worst;
}

typedef struct lr_ctx {
    const double *Xs;
    int64_t n, d;
    const int32_t *y;
    int K;
    double C;
    double *work;
} lr_ctx;

static double lr_fn(const double *theta, double *grad, void *v)
{
    lr_ctx *c = v;
    return bs_logreg_loss_grad(theta, grad, c->Xs, c->n, c->d, c->y, c->K, c->C, c->work);
}

typedef struct mlp_ctx {
    const double *Xs;
    int64_t d;
    const int32_t *y;
    const int64_t *idx;
    int64_t m;
    int hidden, k;
    double decay;
    double *work;
} mlp_ctx;

static double mlp_fn(const double *theta, double *grad, void *v)
{
    mlp_ctx *c = v;
    return bs_mlp_loss_grad(theta, grad, c->Xs, c->d, c->y, c->idx, c->m, c->hidden, c->k, c->decay, c->work);
}

static void test_gradients(void)
{
    bs_rng *rng = bs_rng_new(1);
    const int64_t n = 17, d = 5;
    double Xs[17 * 5];
    int32_t y[17];
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 3);
        for (int64_t j = 0; j < d; j++)
            Xs[i * d + j] = bs_rng_gaussian(rng, 1.0);
    }
    for (int K = 1; K <= 3; K += 2) { /* binary (sigmoid) and 3-class softmax */
        int32_t yb[17];
        for (int64_t i = 0; i < n; i++)
            yb[i] = K == 1 ? (y[i] == 1) : y[i];
        int64_t np = K * (d + 1);
        double theta[3 * 6];
        for (int64_t j = 0; j < np; j++)
            theta[j] = bs_rng_gaussian(rng, 0.5);
        double work[17 * 3];
        lr_ctx c = {Xs, n, d, yb, K, 0.7, work};
        double e = max_fd_error(lr_fn, &c, theta, np, 1e-6, 1e-8, 1e-6);
        CHECK(e <= 0, "logreg K=%d gradient off by %.3g beyond 1e-8 + 1e-6|g|", K, e);
        printf("ok   logreg K=%d finite-difference gradient (h 1e-6, atol 1e-8, rtol 1e-6)\n", K);
    }
    {
        int hidden = 4, k = 3;
        int64_t idx[9] = {0, 2, 3, 5, 7, 8, 11, 13, 16};
        int64_t np = hidden * d + hidden + k * hidden + k;
        double *theta = malloc(sizeof(double) * (size_t)np);
        for (int64_t j = 0; j < np; j++)
            theta[j] = bs_rng_gaussian(rng, 0.6);
        double *work = malloc(sizeof(double) * (size_t)bs_mlp_work_size(9, hidden, k));
        mlp_ctx c = {Xs, d, y, idx, 9, hidden, k, 0.01, work};
        /* ReLU kinks: a pre-activation within h of 0 would break the
         * difference quotient; with these draws none is (checked by the
         * tolerance holding). */
        double e = max_fd_error(mlp_fn, &c, theta, np, 1e-6, 1e-8, 1e-6);
        CHECK(e <= 0, "mlp gradient off by %.3g beyond 1e-8 + 1e-6|g|", e);
        printf("ok   mlp finite-difference gradient (h 1e-6, atol 1e-8, rtol 1e-6)\n");
        free(theta);
        free(work);
    }
    bs_rng_free(rng);
}

static void test_roundtrip(void)
{
    bs_rng *rng = bs_rng_new(2);
    const int64_t n = 60, d = 7;
    float X[60 * 7];
    int32_t y[60];
    make_data(rng, n, d, 3, X, y);
    const char *names[3] = {"control", "patient", "other"};
    char dir[] = "/tmp/bs-test-heads-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    bs_head_kind kinds[] = {BS_HEAD_LOGREG, BS_HEAD_SVM, BS_HEAD_MLP, BS_HEAD_CENTROID, BS_HEAD_RIDGE};
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++) {
        for (int k = 2; k <= 3; k++) {
            bs_head_params p;
            bs_head_params_default(&p, kinds[t]);
            p.max_iter = kinds[t] == BS_HEAD_MLP ? 20 : p.max_iter;
            bs_error err = {0};
            int32_t yk[60];
            double target[60];
            for (int64_t i = 0; i < n; i++) {
                yk[i] = y[i] % k;
                target[i] = y[i] * 2.5 + X[i * d];
            }
            bs_head *h = kinds[t] == BS_HEAD_RIDGE ? bs_head_fit_regressor(&p, X, n, d, target, &err)
                                                   : bs_head_fit_classifier(&p, X, n, d, yk, k, names, &err);
            CHECK(h, "fit %s: %s", bs_head_kind_name(kinds[t]), err.message);
            if (!h)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s_%d.safetensors", dir, bs_head_kind_name(kinds[t]), k);
            int rc = bs_head_save(h, path, &err);
            CHECK(rc == BS_OK, "save %s: %s", path, err.message);
            bs_head *g = bs_head_load(path, &err);
            CHECK(g, "load %s: %s", path, err.message);
            if (g) {
                int ns = bs_head_n_scores(h);
                double *a = malloc(sizeof(double) * (size_t)(n * ns)), *b = malloc(sizeof(double) * (size_t)(n * ns));
                bs_head_scores(h, X, n, a, &err);
                bs_head_scores(g, X, n, b, &err);
                CHECK(memcmp(a, b, sizeof(double) * (size_t)(n * ns)) == 0, "%s: reloaded scores differ",
                      bs_head_kind_name(kinds[t]));
                if (h->n_classes)
                    CHECK(g->class_names && strcmp(g->class_names[1], "patient") == 0, "%s: class names lost",
                          bs_head_kind_name(kinds[t]));
                printf("ok   %s (%d outputs) save/load: identical scores\n", bs_head_kind_name(kinds[t]), ns);
                free(a);
                free(b);
                bs_head_free(g);
            }
            unlink(path);
            bs_head_free(h);
            if (kinds[t] == BS_HEAD_RIDGE)
                break;
        }
    }
    /* A file that is not a head. */
    {
        char path[512];
        snprintf(path, sizeof path, "%s/bogus.safetensors", dir);
        FILE *fp = fopen(path, "wb");
        fputs("not a safetensors file", fp);
        fclose(fp);
        bs_error err = {0};
        CHECK(bs_head_load(path, &err) == NULL && err.code != BS_OK && strchr(err.message, '\n') == NULL,
              "bogus head file accepted");
        printf("ok   bogus head file rejected: %s\n", err.message);
        unlink(path);
    }
    rmdir(dir);
    bs_rng_free(rng);
}

static void test_errors_and_determinism(void)
{
    bs_rng *rng = bs_rng_new(3);
    const int64_t n = 40, d = 4;
    float X[40 * 4];
    int32_t y[40];
    make_data(rng, n, d, 2, X, y);
    bs_head_params p;
    bs_error err = {0};
    int32_t one[40] = {0};
    bs_head_params_default(&p, BS_HEAD_LOGREG);
    CHECK(bs_head_fit_classifier(&p, X, n, d, one, 2, NULL, &err) == NULL && err.code == BS_ERR_DATA,
          "one class accepted");
    printf("ok   training rows with one class: %s\n", err.message);
    p.C = -1;
    CHECK(bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err) == NULL && err.code == BS_ERR_USAGE, "C<0");
    bs_head_params_default(&p, BS_HEAD_RIDGE);
    CHECK(bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err) == NULL, "ridge as classifier accepted");
    float bad[40 * 4];
    memcpy(bad, X, sizeof bad);
    bad[13] = NAN;
    bs_head_params_default(&p, BS_HEAD_SVM);
    CHECK(bs_head_fit_classifier(&p, bad, n, d, y, 2, NULL, &err) == NULL && err.code == BS_ERR_NUMERIC,
          "NaN feature accepted");
    printf("ok   NaN feature: %s\n", err.message);

    /* Same seed -> bit-identical heads; svm and mlp use the seed. */
    bs_head_kind kinds[] = {BS_HEAD_SVM, BS_HEAD_MLP};
    for (int t = 0; t < 2; t++) {
        bs_head_params_default(&p, kinds[t]);
        p.max_iter = kinds[t] == BS_HEAD_MLP ? 15 : 1000;
        p.seed = 99;
        bs_head *a = bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err);
        bs_head *b = bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err);
        CHECK(a && b && memcmp(a->weight, b->weight, sizeof(double) * (size_t)(a->n_out * d)) == 0,
              "%s not deterministic", bs_head_kind_name(kinds[t]));
        if (kinds[t] == BS_HEAD_MLP) {
            p.seed = 100;
            bs_head *c = bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err);
            CHECK(c && memcmp(a->weight, c->weight, sizeof(double) * (size_t)(a->hidden * d)) != 0,
                  "mlp ignores its seed");
            bs_head_free(c);
        }
        printf("ok   %s deterministic for a seed\n", bs_head_kind_name(kinds[t]));
        bs_head_free(a);
        bs_head_free(b);
    }
    /* Constant feature: centred, not scaled (StandardScaler). */
    for (int64_t i = 0; i < n; i++)
        X[i * d + 2] = 3.0f;
    bs_head_params_default(&p, BS_HEAD_LOGREG);
    bs_head *h = bs_head_fit_classifier(&p, X, n, d, y, 2, NULL, &err);
    CHECK(h && h->scale[2] == 1.0 && fabs(h->weight[2]) < 1e-12, "constant feature mishandled");
    printf("ok   constant feature gets scale 1 and zero weight\n");
    bs_head_free(h);
    bs_rng_free(rng);
}

int main(void)
{
    test_gradients();
    test_roundtrip();
    test_errors_and_determinism();
    if (failures)
        printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
