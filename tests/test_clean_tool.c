/* test_clean_tool.c - runs bs_clean or bs_fc_compute on a TSV time series
 * for the Python golden checks (tests/clean_reference.py, tests/fc_reference.py).
 *
 *   test_clean_tool clean TS.tsv OUT.tsv [confounds=F] [strategy=S] [columns=a,b]
 *                   [acompcor_n=N] [dummy=N] [detrend=N] [hp=F] [lp=F] [order=N]
 *                   [pad=odd|constant] [fd=F] [censor=0|1] [zscore=0|1] [tr=F]
 *   test_clean_tool fc TS.tsv OUT.tsv [kind=pearson|partial|ledoit_wolf] [fisher=0|1] [ridge=F]
 *
 * Prints compute_ms (the library call alone) for bench/clean.
 * Errors go to stderr as "error: <message>" with the status as exit code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brainstage/clean.h"
#include "brainstage/fc.h"
#include "brainstage/log.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

static void log_to_stderr(bs_log_level level, const char *message, void *user)
{
    (void)user;
    if (level >= BS_LOG_WARN)
        fprintf(stderr, "warning: %s\n", message);
}

static int fail(const bs_error *err)
{
    fprintf(stderr, "error: %s\n", err->message);
    return err->code ? (int)err->code : 1;
}

/* Reads every column of a numeric TSV into a row-major float matrix. */
static float *read_matrix(const char *path, int64_t *rows, int *cols, bs_tsv **table, bs_error *err)
{
    bs_tsv *t = bs_tsv_read(path, err);
    if (!t)
        return NULL;
    float *m = bs_alloc_floats((size_t)(t->n_rows * t->n_cols + 1));
    double *col = malloc((size_t)(t->n_rows + 1) * sizeof(double));
    for (int c = 0; c < t->n_cols; c++) {
        if (bs_tsv_column_double(t, t->header[c], col, err)) {
            bs_free(m);
            free(col);
            bs_tsv_free(t);
            return NULL;
        }
        for (int64_t r = 0; r < t->n_rows; r++)
            m[r * t->n_cols + c] = (float)col[r];
    }
    free(col);
    *rows = t->n_rows;
    *cols = t->n_cols;
    *table = t;
    return m;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static const char *arg(int argc, char **argv, const char *key, const char *dflt)
{
    size_t k = strlen(key);
    for (int i = 4; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=')
            return argv[i] + k + 1;
    return dflt;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s clean|fc TS.tsv OUT.tsv [key=value ...]\n", argv[0]);
        return 2;
    }
    bs_log_set_handler(log_to_stderr, NULL);
    bs_error err = {0};
    int64_t rows;
    int cols;
    bs_tsv *table = NULL;
    float *ts = read_matrix(argv[2], &rows, &cols, &table, &err);
    if (!ts)
        return fail(&err);
    int rc;
    if (strcmp(argv[1], "clean") == 0) {
        bs_clean_options o;
        bs_clean_options_init(&o);
        o.dummy_scans = atoi(arg(argc, argv, "dummy", "0"));
        o.detrend_order = atoi(arg(argc, argv, "detrend", "1"));
        o.high_pass_hz = atof(arg(argc, argv, "hp", "0.01"));
        o.low_pass_hz = atof(arg(argc, argv, "lp", "0.08"));
        o.filter_order = atoi(arg(argc, argv, "order", "2"));
        o.padding = strcmp(arg(argc, argv, "pad", "odd"), "constant") == 0 ? BS_PAD_CONSTANT : BS_PAD_ODD;
        o.fd_threshold = atof(arg(argc, argv, "fd", "0.5"));
        o.censor = atoi(arg(argc, argv, "censor", "1"));
        o.zscore = atoi(arg(argc, argv, "zscore", "0"));
        double tr = atof(arg(argc, argv, "tr", "0"));
        bs_clean_strategy strategy;
        if ((rc = bs_clean_strategy_parse(arg(argc, argv, "strategy", "none"), &strategy, &err)))
            return fail(&err);
        bs_confounds *conf = NULL;
        const char *cpath = arg(argc, argv, "confounds", NULL);
        if (cpath && !(conf = bs_confounds_load(cpath, strategy, arg(argc, argv, "columns", ""),
                                                atoi(arg(argc, argv, "acompcor_n", "5")), &err)))
            return fail(&err);
        bs_clean_result res;
        double t0 = now_ms();
        if ((rc = bs_clean(ts, rows, cols, tr, conf, &o, &res, &err)))
            return fail(&err);
        printf("compute_ms %.3f\n", now_ms() - t0);
        printf("rows %lld dummy %lld flagged %lld nan_columns %d\n", (long long)res.n_rows,
               (long long)res.n_dummy, (long long)res.n_flagged, res.n_nan_columns);
        rc = bs_tsv_write_matrix(argv[3], res.n_rows, cols, res.data, (const char *const *)table->header, NULL,
                                 NULL, &err);
        bs_clean_result_free(&res);
        bs_confounds_free(conf);
    } else if (strcmp(argv[1], "fc") == 0) {
        bs_fc_options o;
        bs_fc_options_init(&o);
        if ((rc = bs_fc_kind_parse(arg(argc, argv, "kind", "pearson"), &o.kind, &err)))
            return fail(&err);
        o.fisher_z = atoi(arg(argc, argv, "fisher", "0"));
        o.partial_ridge = atof(arg(argc, argv, "ridge", "0.01"));
        float *out = bs_alloc_floats((size_t)cols * (size_t)cols);
        bs_fc_info info;
        double t0 = now_ms();
        if ((rc = bs_fc_compute(ts, rows, cols, &o, out, NULL, &info, &err)))
            return fail(&err);
        printf("compute_ms %.3f\n", now_ms() - t0);
        printf("undefined %lld shrinkage %.12g\n", (long long)info.n_undefined, info.shrinkage);
        rc = bs_tsv_write_matrix(argv[3], cols, cols, out, (const char *const *)table->header, "Node",
                                 (const char *const *)table->header, &err);
        bs_free(out);
    } else {
        fprintf(stderr, "unknown mode '%s'\n", argv[1]);
        return 2;
    }
    bs_free(ts);
    bs_tsv_free(table);
    return rc ? fail(&err) : 0;
}
