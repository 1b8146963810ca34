/* test_heads_tool.c - command-line driver used by tests/heads_sklearn.py to
 * run brainstage heads, metrics and splits on files Python wrote, so the
 * results can be compared with scikit-learn.  Not a test by itself.
 *
 *   fit KIND PARAMS Xtrain ytrain Xtest OUT   -> OUT.scores OUT.coef OUT.bias
 *   metrics ytrue ypred scores K               -> acc bacc f1 auc (stdout)
 *   regmetrics ytrue ypred                     -> mae pearson r2
 *   splits strat|fewshot|kfold y K_or_SHOTS SEED [REPEATS] OUT -> role matrix
 *   evaluate KIND PARAMS X y folds OUT         -> OUT.tsv OUT.json
 * Text files hold whitespace-separated numbers; matrices one row per line.
 * PARAMS: comma-separated key=value (C, alpha, tol, max_iter, loss,
 * standardize, hidden, lr, batch, temperature, seed) or "-". */
#include "brainstage/eval.h"
#include "brainstage/heads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "test_heads_tool: %s %s\n", msg, arg ? arg : "");
    exit(2);
}

/* Reads a text matrix; returns values as double, sets rows/cols. */
static double *read_matrix(const char *path, int64_t *rows, int64_t *cols)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        die("cannot open", path);
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    char line[1 << 16];
    int64_t r = 0, c = -1;
    while (fgets(line, sizeof line, fp)) {
        if (strlen(line) == sizeof line - 1)
            die("line too long in", path);
        int64_t k = 0;
        char *p = line, *end;
        for (;;) {
            double x = strtod(p, &end);
            if (end == p)
                break;
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = x;
            k++;
            p = end;
        }
        if (k == 0)
            continue;
        if (c >= 0 && k != c)
            die("ragged matrix in", path);
        c = k;
        r++;
    }
    fclose(fp);
    *rows = r;
    *cols = c < 0 ? 0 : c;
    return v;
}

static float *read_floats(const char *path, int64_t *rows, int64_t *cols)
{
    /* Parse with strtof semantics: Python writes float32 values with 9
     * significant digits, which round-trip exactly. */
    FILE *fp = fopen(path, "r");
    if (!fp)
        die("cannot open", path);
    size_t cap = 1024, n = 0;
    float *v = malloc(cap * sizeof *v);
    char line[1 << 20];
    int64_t r = 0, c = -1;
    while (fgets(line, sizeof line, fp)) {
        int64_t k = 0;
        char *p = line, *end;
        for (;;) {
            float x = strtof(p, &end);
            if (end == p)
                break;
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = x;
            k++;
            p = end;
        }
        if (k == 0)
            continue;
        if (c >= 0 && k != c)
            die("ragged matrix in", path);
        c = k;
        r++;
    }
    fclose(fp);
    *rows = r;
    *cols = c < 0 ? 0 : c;
    return v;
}

static int32_t *to_int(const double *v, int64_t n)
{
    int32_t *y = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)v[i];
    return y;
}

static void parse_params(bs_head_params *p, const char *kind, const char *spec)
{
    bs_head_kind k = bs_head_kind_parse(kind);
    if (k == BS_HEAD_NONE)
        die("unknown head kind", kind);
    bs_head_params_default(p, k);
    if (strcmp(spec, "-") == 0)
        return;
    char *copy = strdup(spec), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            die("bad parameter", tok);
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(tok, "C"))
            p->C = atof(v);
        else if (!strcmp(tok, "alpha"))
            p->alpha = atof(v);
        else if (!strcmp(tok, "tol"))
            p->tol = atof(v);
        else if (!strcmp(tok, "max_iter"))
            p->max_iter = atoi(v);
        else if (!strcmp(tok, "loss"))
            p->svm_loss = !strcmp(v, "hinge") ? BS_SVM_HINGE : BS_SVM_SQUARED_HINGE;
        else if (!strcmp(tok, "standardize"))
            p->standardize = atoi(v);
        else if (!strcmp(tok, "hidden"))
            p->mlp_hidden = atoi(v);
        else if (!strcmp(tok, "lr"))
            p->mlp_lr = atof(v);
        else if (!strcmp(tok, "batch"))
            p->mlp_batch = atoi(v);
        else if (!strcmp(tok, "temperature"))
            p->temperature = atof(v);
        else if (!strcmp(tok, "seed"))
            p->seed = (uint64_t)atoll(v);
        else
            die("unknown parameter", tok);
    }
    free(copy);
}

static int n_classes_of(const int32_t *y, int64_t n)
{
    int k = 0;
    for (int64_t i = 0; i < n; i++)
        if (y[i] + 1 > k)
            k = y[i] + 1;
    return k;
}

static void write_rows(const char *path, const double *v, int64_t rows, int64_t cols)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        die("cannot write", path);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            fprintf(fp, "%.17g%c", v[i * cols + j], j + 1 == cols ? '\n' : ' ');
    fclose(fp);
}

static int cmd_fit(char **a)
{
    bs_head_params p;
    parse_params(&p, a[0], a[1]);
    int64_t n, d, nt, dt, yr, yc;
    float *X = read_floats(a[2], &n, &d);
    double *yv = read_matrix(a[3], &yr, &yc);
    float *Xt = read_floats(a[4], &nt, &dt);
    if (yr * yc != n || dt != d)
        die("shape mismatch between", a[2]);
    bs_error err = {0};
    bs_head *h;
    if (p.kind == BS_HEAD_RIDGE) {
        h = bs_head_fit_regressor(&p, X, n, d, yv, &err);
    } else {
        int32_t *y = to_int(yv, n);
        h = bs_head_fit_classifier(&p, X, n, d, y, n_classes_of(y, n), NULL, &err);
        free(y);
    }
    if (!h) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int ns = bs_head_n_scores(h);
    double *s = malloc(sizeof(double) * (size_t)(nt * ns));
    if (bs_head_scores(h, Xt, nt, s, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.scores", a[5]);
    write_rows(path, s, nt, ns);
    if (h->kind != BS_HEAD_MLP) {
        snprintf(path, sizeof path, "%s.coef", a[5]);
        write_rows(path, h->weight, h->n_out, d);
        snprintf(path, sizeof path, "%s.bias", a[5]);
        write_rows(path, h->bias, 1, h->n_out);
    }
    printf("iterations %d converged %d\n", h->iterations, h->converged);
    free(s);
    bs_head_free(h);
    free(X);
    free(Xt);
    free(yv);
    return 0;
}

static int cmd_metrics(char **a)
{
    int64_t n, c, n2, c2, ns, k;
    double *yt = read_matrix(a[0], &n, &c);
    double *yp = read_matrix(a[1], &n2, &c2);
    double *s = read_matrix(a[2], &ns, &k);
    int K = atoi(a[3]);
    int64_t N = n * c;
    if (n2 * c2 != N || ns != N || k != K)
        die("shape mismatch in", a[2]);
    int32_t *t = to_int(yt, N), *p = to_int(yp, N);
    printf("%.17g %.17g %.17g %.17g\n", bs_metric_accuracy(t, p, N), bs_metric_balanced_accuracy(t, p, N, K),
           bs_metric_f1_macro(t, p, N, K), bs_metric_auc(t, s, N, K));
    free(yt);
    free(yp);
    free(s);
    free(t);
    free(p);
    return 0;
}

static int cmd_regmetrics(char **a)
{
    int64_t n, c, n2, c2;
    double *yt = read_matrix(a[0], &n, &c);
    double *yp = read_matrix(a[1], &n2, &c2);
    if (n * c != n2 * c2)
        die("shape mismatch in", a[1]);
    printf("%.17g %.17g %.17g\n", bs_metric_mae(yt, yp, n * c), bs_metric_pearson(yt, yp, n * c),
           bs_metric_r2(yt, yp, n * c));
    free(yt);
    free(yp);
    return 0;
}

static int cmd_splits(char **a, int argc)
{
    int64_t n, c;
    double *yv = read_matrix(a[1], &n, &c);
    n *= c;
    int32_t *y = to_int(yv, n);
    int K = n_classes_of(y, n);
    bs_splits s;
    bs_error err = {0};
    int rc;
    const char *out;
    if (!strcmp(a[0], "strat")) {
        rc = bs_splits_stratified_kfold(y, n, K, atoi(a[2]), (uint64_t)atoll(a[3]), &s, &err);
        out = a[4];
    } else if (!strcmp(a[0], "kfold")) {
        rc = bs_splits_kfold(n, atoi(a[2]), (uint64_t)atoll(a[3]), &s, &err);
        out = a[4];
    } else {
        if (argc < 6)
            die("fewshot needs y SHOTS SEED REPEATS OUT", "");
        rc = bs_splits_fewshot(y, n, K, atoi(a[2]), atoi(a[4]), (uint64_t)atoll(a[3]), &s, &err);
        out = a[5];
    }
    if (rc != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double *r = malloc(sizeof(double) * (size_t)(s.n_splits * n));
    for (int64_t i = 0; i < s.n_splits * n; i++)
        r[i] = s.role[i];
    write_rows(out, r, s.n_splits, n);
    free(r);
    free(y);
    free(yv);
    bs_splits_free(&s);
    return 0;
}

static int cmd_evaluate(char **a)
{
    bs_eval_config cfg;
    bs_head_params hp;
    parse_params(&hp, a[0], a[1]);
    bs_eval_config_default(&cfg, hp.kind);
    cfg.head = hp;
    int64_t n, d, yr, yc, fr, fc;
    float *X = read_floats(a[2], &n, &d);
    double *yv = read_matrix(a[3], &yr, &yc);
    double *fv = read_matrix(a[4], &fr, &fc);
    if (yr * yc != n || fr * fc != n)
        die("row counts differ in", a[3]);
    int32_t *fold = to_int(fv, n);
    bs_error err = {0};
    bs_splits s;
    if (bs_splits_from_folds(fold, n, &s, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    cfg.protocol = BS_EVAL_SPLITS;
    cfg.splits = &s;
    bs_labels l;
    memset(&l, 0, sizeof l);
    l.n = n;
    if (hp.kind == BS_HEAD_RIDGE) {
        l.target = yv;
    } else {
        l.y = to_int(yv, n);
        l.n_classes = n_classes_of(l.y, n);
    }
    bs_eval_result r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (bs_evaluate(&cfg, X, n, d, &l, &r, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* bs_evaluate alone (no text parsing): used by bench/heads. */
    printf("evaluate_seconds %.6f\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    char path[4096];
    snprintf(path, sizeof path, "%s.tsv", a[5]);
    if (bs_eval_write_tsv(&r, path, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    snprintf(path, sizeof path, "%s.json", a[5]);
    if (bs_eval_write_json(&r, &cfg, NULL, path, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    snprintf(path, sizeof path, "%s.oof", a[5]);
    write_rows(path, r.oof_scores, n, r.n_scores);
    bs_eval_result_free(&r);
    bs_splits_free(&s);
    free(l.y);
    free(X);
    free(yv);
    free(fv);
    free(fold);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: fit|metrics|regmetrics|splits|evaluate ...", "");
    const char *cmd = argv[1];
    char **a = argv + 2;
    int na = argc - 2;
    if (!strcmp(cmd, "fit") && na == 6)
        return cmd_fit(a);
    if (!strcmp(cmd, "metrics") && na == 4)
        return cmd_metrics(a);
    if (!strcmp(cmd, "regmetrics") && na == 2)
        return cmd_regmetrics(a);
    if (!strcmp(cmd, "splits") && na >= 5)
        return cmd_splits(a, na);
    if (!strcmp(cmd, "evaluate") && na == 6)
        return cmd_evaluate(a);
    die("bad command or argument count:", cmd);
    return 2;
}
