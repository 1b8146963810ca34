/* heads.c - head objects: parameters, scaler, dispatch of fits, scoring. */
#include "brainstage/heads.h"
#include "brainstage/heads_internal.h"
#include "brainstage/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"none", "logreg", "svm", "mlp", "ridge", "centroid", "finetune"};

const char *bs_head_kind_name(bs_head_kind kind)
{
    if ((int)kind < 0 || (int)kind > BS_HEAD_FINETUNE)
        return "none";
    return kind_names[kind];
}

bs_head_kind bs_head_kind_parse(const char *name)
{
    if (!name)
        return BS_HEAD_NONE;
    for (int k = 1; k <= BS_HEAD_FINETUNE; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return (bs_head_kind)k;
    return BS_HEAD_NONE;
}

void bs_head_params_default(bs_head_params *p, bs_head_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->standardize = 1;
    p->C = 1.0;
    p->alpha = kind == BS_HEAD_MLP ? 1e-4 : 1.0;
    p->max_iter = kind == BS_HEAD_SVM ? 10000 : kind == BS_HEAD_MLP ? 200 : 1000;
    p->tol = kind == BS_HEAD_SVM ? 1e-4 : 1e-6;
    p->svm_loss = BS_SVM_HINGE;
    p->mlp_hidden = 64;
    p->mlp_lr = 1e-3;
    p->mlp_batch = 32;
    p->temperature = 0.1;
    p->seed = 42;
}

void bs_head_free(bs_head *h)
{
    if (!h)
        return;
    free(h->mean);
    free(h->scale);
    free(h->weight);
    free(h->bias);
    free(h->weight2);
    free(h->bias2);
    if (h->class_names)
        for (int c = 0; c < h->n_classes; c++)
            free(h->class_names[c]);
    free(h->class_names);
    free(h);
}

int bs_head_n_scores(const bs_head *h) { return h->n_classes > 0 ? h->n_classes : 1; }

bs_head *bs_head_begin(bs_head_kind kind, int standardize, const float *X, int64_t n, int64_t d,
                       double **Xs, bs_error *err)
{
    *Xs = NULL;
    if (n < 1 || d < 1) {
        bs_error_set(err, BS_ERR_USAGE, "head %s: need at least one row and one feature (got %lld x %lld)",
                     bs_head_kind_name(kind), (long long)n, (long long)d);
        return NULL;
    }
    size_t cells;
    if (!bs_mul_size((size_t)n, (size_t)d, &cells) || cells > SIZE_MAX / sizeof(double)) {
        bs_error_set(err, BS_ERR_NOMEM, "head %s: %lld x %lld features overflow memory",
                     bs_head_kind_name(kind), (long long)n, (long long)d);
        return NULL;
    }
    for (size_t i = 0; i < cells; i++)
        if (!isfinite(X[i])) {
            bs_error_set(err, BS_ERR_NUMERIC, "head %s: feature row %lld column %lld is not finite",
                         bs_head_kind_name(kind), (long long)(i / (size_t)d), (long long)(i % (size_t)d));
            return NULL;
        }
    bs_head *h = calloc(1, sizeof *h);
    double *out = malloc(cells * sizeof(double));
    if (!h || !out) {
        free(h);
        free(out);
        bs_error_set(err, BS_ERR_NOMEM, "head %s: out of memory for %lld x %lld features",
                     bs_head_kind_name(kind), (long long)n, (long long)d);
        return NULL;
    }
    h->kind = kind;
    h->d = d;
    if (standardize) {
        h->mean = calloc((size_t)d, sizeof(double));
        h->scale = calloc((size_t)d, sizeof(double));
        if (!h->mean || !h->scale) {
            bs_head_free(h);
            free(out);
            bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
            return NULL;
        }
        /* Two passes (mean, then squared deviations) in double: exact enough
         * to agree with numpy's StandardScaler to ~1e-15 relative. */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++)
                h->mean[j] += X[i * d + j];
        for (int64_t j = 0; j < d; j++)
            h->mean[j] /= (double)n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++) {
                double t = X[i * d + j] - h->mean[j];
                h->scale[j] += t * t;
            }
        const double eps = 2.220446049250313e-16;
        for (int64_t j = 0; j < d; j++) {
            double var = h->scale[j] / (double)n;
            /* Like StandardScaler: a variance within round-off of zero marks
             * a constant feature, which is centred but not scaled. */
            double bound = (double)n * eps * var + pow((double)n * h->mean[j] * eps, 2);
            h->scale[j] = var <= bound ? 1.0 : sqrt(var);
        }
    }
    bs_head_transform(h, X, n, out);
    *Xs = out;
    return h;
}

void bs_head_transform(const bs_head *h, const float *X, int64_t n, double *out)
{
    int64_t d = h->d;
    if (!h->mean) {
        for (int64_t i = 0; i < n * d; i++)
            out[i] = X[i];
        return;
    }
    /* Divide, not multiply by a reciprocal: bit-compatible with
     * StandardScaler's (x - mean) / scale. */
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        double *o = out + i * d;
        for (int64_t j = 0; j < d; j++)
            o[j] = (x[j] - h->mean[j]) / h->scale[j];
    }
}

static int copy_class_names(bs_head *h, const char *const *names, bs_error *err)
{
    if (!names)
        return BS_OK;
    h->class_names = calloc((size_t)h->n_classes, sizeof(char *));
    if (!h->class_names)
        return bs_error_set(err, BS_ERR_NOMEM, "head: out of memory for class names");
    for (int c = 0; c < h->n_classes; c++) {
        h->class_names[c] = strdup(names[c] ? names[c] : "");
        if (!h->class_names[c])
            return bs_error_set(err, BS_ERR_NOMEM, "head: out of memory for class names");
    }
    return BS_OK;
}

bs_head *bs_head_fit_classifier(const bs_head_params *p, const float *X, int64_t n, int64_t d,
                                const int32_t *y, int n_classes, const char *const *class_names,
                                bs_error *err)
{
    const char *kname = bs_head_kind_name(p->kind);
    if (p->kind == BS_HEAD_FINETUNE) {
        bs_error_set(err, BS_ERR_USAGE, "head finetune: needs a pretrained encoder and its inputs (bs_finetune_fit), "
                     "not a feature matrix");
        return NULL;
    }
    if (p->kind == BS_HEAD_RIDGE || p->kind == BS_HEAD_NONE) {
        bs_error_set(err, BS_ERR_USAGE, "head %s: not a classifier (use logreg, svm, mlp or centroid)", kname);
        return NULL;
    }
    if (n_classes < 2) {
        bs_error_set(err, BS_ERR_DATA, "head %s: need at least 2 classes, got %d", kname, n_classes);
        return NULL;
    }
    int64_t *count = calloc((size_t)n_classes, sizeof *count);
    if (!count) {
        bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes) {
            free(count);
            bs_error_set(err, BS_ERR_DATA, "head %s: label of row %lld is %d, expected 0..%d", kname,
                         (long long)i, (int)y[i], n_classes - 1);
            return NULL;
        }
        count[y[i]]++;
    }
    for (int c = 0; c < n_classes; c++)
        if (count[c] == 0) {
            if (class_names && class_names[c])
                bs_error_set(err, BS_ERR_DATA,
                             "head %s: class '%s' has no training rows (every class needs at least one)", kname,
                             class_names[c]);
            else
                bs_error_set(err, BS_ERR_DATA,
                             "head %s: class %d has no training rows (every class needs at least one)", kname, c);
            free(count);
            return NULL;
        }
    free(count);
    if ((p->kind == BS_HEAD_LOGREG || p->kind == BS_HEAD_SVM) && !(p->C > 0)) {
        bs_error_set(err, BS_ERR_USAGE, "head %s: C must be > 0, got %g", kname, p->C);
        return NULL;
    }

    double *Xs = NULL;
    bs_head *h = bs_head_begin(p->kind, p->standardize, X, n, d, &Xs, err);
    if (!h)
        return NULL;
    h->n_classes = n_classes;
    int rc = copy_class_names(h, class_names, err);
    if (rc == BS_OK) {
        switch (p->kind) {
        case BS_HEAD_LOGREG: rc = bs_head_fit_logreg(h, p, Xs, n, y, err); break;
        case BS_HEAD_SVM: rc = bs_head_fit_svm(h, p, Xs, n, y, err); break;
        case BS_HEAD_MLP: rc = bs_head_fit_mlp(h, p, Xs, n, y, err); break;
        case BS_HEAD_CENTROID: rc = bs_head_fit_centroid(h, p, Xs, n, y, err); break;
        default: rc = bs_error_set(err, BS_ERR_INTERNAL, "head: unhandled kind %d", (int)p->kind);
        }
    }
    free(Xs);
    if (rc != BS_OK) {
        bs_head_free(h);
        return NULL;
    }
    return h;
}

bs_head *bs_head_fit_regressor(const bs_head_params *p, const float *X, int64_t n, int64_t d,
                               const double *target, bs_error *err)
{
    if (p->kind != BS_HEAD_RIDGE) {
        bs_error_set(err, BS_ERR_USAGE, "head %s: continuous targets need the ridge head",
                     bs_head_kind_name(p->kind));
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(target[i])) {
            bs_error_set(err, BS_ERR_DATA, "head ridge: target of row %lld is not finite", (long long)i);
            return NULL;
        }
    double *Xs = NULL;
    bs_head *h = bs_head_begin(p->kind, p->standardize, X, n, d, &Xs, err);
    if (!h)
        return NULL;
    int rc = bs_head_fit_ridge(h, p, Xs, n, target, err);
    free(Xs);
    if (rc != BS_OK) {
        bs_head_free(h);
        return NULL;
    }
    return h;
}

/* Softmax of row[0..k) in place (max-shifted). */
static void softmax_inplace(double *row, int k)
{
    double mx = row[0];
    for (int c = 1; c < k; c++)
        mx = fmax(mx, row[c]);
    double s = 0;
    for (int c = 0; c < k; c++) {
        row[c] = exp(row[c] - mx);
        s += row[c];
    }
    for (int c = 0; c < k; c++)
        row[c] /= s;
}

/* Scores of one standardised row x[d] into out[n_scores]. */
static void score_row(const bs_head *h, const double *x, double *out, double *hidden)
{
    int64_t d = h->d;
    int K = h->n_out;
    if (h->kind == BS_HEAD_MLP) {
        for (int u = 0; u < h->hidden; u++) {
            double s = h->bias[u];
            const double *w = h->weight + (int64_t)u * d;
            for (int64_t j = 0; j < d; j++)
                s += w[j] * x[j];
            hidden[u] = s > 0 ? s : 0;
        }
        for (int c = 0; c < h->n_classes; c++) {
            double s = h->bias2[c];
            const double *w = h->weight2 + (int64_t)c * h->hidden;
            for (int u = 0; u < h->hidden; u++)
                s += w[u] * hidden[u];
            out[c] = s;
        }
        softmax_inplace(out, h->n_classes);
        return;
    }
    double norm = 1.0;
    if (h->kind == BS_HEAD_CENTROID) {
        double ss = 0;
        for (int64_t j = 0; j < d; j++)
            ss += x[j] * x[j];
        norm = ss > 0 ? sqrt(ss) : 1.0;
    }
    double lin[K];
    for (int c = 0; c < K; c++) {
        double s = 0;
        const double *w = h->weight + (int64_t)c * d;
        for (int64_t j = 0; j < d; j++)
            s += w[j] * x[j];
        lin[c] = s / norm + h->bias[c];
    }
    switch (h->kind) {
    case BS_HEAD_RIDGE:
        out[0] = lin[0];
        break;
    case BS_HEAD_LOGREG:
        if (K == 1) {
            double p1 = 1.0 / (1.0 + exp(-lin[0]));
            out[0] = 1.0 - p1;
            out[1] = p1;
        } else {
            memcpy(out, lin, sizeof(double) * (size_t)K);
            softmax_inplace(out, K);
        }
        break;
    case BS_HEAD_SVM:
        if (K == 1) {
            out[0] = -lin[0];
            out[1] = lin[0];
        } else {
            memcpy(out, lin, sizeof(double) * (size_t)K);
        }
        break;
    case BS_HEAD_CENTROID:
        for (int c = 0; c < K; c++)
            out[c] = lin[c] / h->temperature;
        softmax_inplace(out, K);
        break;
    default:
        break;
    }
}

int bs_head_scores(const bs_head *h, const float *X, int64_t n, double *scores, bs_error *err)
{
    int ns = bs_head_n_scores(h);
    double *x = malloc(sizeof(double) * (size_t)h->d);
    double *hid = malloc(sizeof(double) * (size_t)(h->hidden > 0 ? h->hidden : 1));
    if (!x || !hid) {
        free(x);
        free(hid);
        return bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        bs_head_transform(h, X + i * h->d, 1, x);
        score_row(h, x, scores + i * ns, hid);
    }
    free(x);
    free(hid);
    for (int64_t i = 0; i < n * ns; i++)
        if (!isfinite(scores[i]))
            return bs_error_set(err, BS_ERR_NUMERIC, "head %s: score of row %lld is not finite",
                                bs_head_kind_name(h->kind), (long long)(i / ns));
    return BS_OK;
}

int bs_head_predict_class(const bs_head *h, const float *X, int64_t n, int32_t *cls, bs_error *err)
{
    if (h->n_classes < 2)
        return bs_error_set(err, BS_ERR_USAGE, "head %s: not a classifier", bs_head_kind_name(h->kind));
    int k = h->n_classes;
    double *s = malloc(sizeof(double) * (size_t)(n * k));
    if (!s)
        return bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
    int rc = bs_head_scores(h, X, n, s, err);
    if (rc == BS_OK)
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < k; c++)
                if (s[i * k + c] > s[i * k + best])
                    best = c;
            cls[i] = best;
        }
    free(s);
    return rc;
}
