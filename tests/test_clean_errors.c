/* test_clean_errors.c - bad inputs to clean and fc give clear one-line
 * errors (or documented NaN + warning), never a crash.
 *
 * Covers: confounds with the wrong row count, a missing strategy column,
 * n/a outside the first row, unknown strategy, missing TR, band edge above
 * Nyquist, every volume censored, too few volumes for the filter or the
 * regressors, a constant ROI through clean then fc, a zero-variance / NaN
 * ROI in fc, a singular partial
 * correlation without ridge, and a one-volume time series. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/clean.h"
#include "brainstage/fc.h"
#include "brainstage/log.h"
#include "brainstage/tensor.h"

static int failures;
static int warnings;

static void count_warnings(bs_log_level level, const char *message, void *user)
{
    (void)message;
    (void)user;
    if (level == BS_LOG_WARN)
        warnings++;
}

#define CHECK(cond, ...)                                                                                    \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                   \
            fputc('\n', stderr);                                                                            \
            failures++;                                                                                     \
        }                                                                                                   \
    } while (0)

/* The error has the expected code, one line, and mentions `needle`. */
static void expect_error(int rc, const bs_error *err, bs_status code, const char *needle, const char *what)
{
    if (rc == BS_OK)
        fprintf(stderr, "(%s unexpectedly succeeded)\n", what);
    CHECK(rc == (int)code, "%s: status %d, expected %d (%s)", what, rc, (int)code, err->message);
    CHECK(strchr(err->message, '\n') == NULL, "%s: message has a newline", what);
    CHECK(strstr(err->message, needle) != NULL, "%s: message '%s' lacks '%s'", what, err->message, needle);
    printf("ok: %s -> %s\n", what, err->message);
}

/* fMRIPrep-like confounds file with motion (+derivatives, squares) and FD. */
static void write_confounds(const char *path, int rows, int with_csf, int bad_row)
{
    FILE *f = fopen(path, "w");
    static const char *const base[] = {"trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf"};
    int nb = with_csf ? 7 : 6;
    for (int b = 0; b < nb; b++)
        fprintf(f, "%s%s\t%s_derivative1\t%s_power2\t%s_derivative1_power2", b ? "\t" : "", base[b], base[b],
                base[b], base[b]);
    fprintf(f, "\tframewise_displacement\n");
    for (int r = 0; r < rows; r++) {
        for (int b = 0; b < nb; b++) {
            double v = 0.01 * sin(0.1 * r + b), d = 0.001 * cos(0.1 * r + b);
            if (r == 0 || r == bad_row)
                fprintf(f, "%s%.6g\tn/a\t%.6g\tn/a", b ? "\t" : "", v, v * v);
            else
                fprintf(f, "%s%.6g\t%.6g\t%.6g\t%.6g", b ? "\t" : "", v, d, v * v, d * d);
        }
        if (r == 0)
            fprintf(f, "\tn/a\n");
        else
            fprintf(f, "\t%.3f\n", (r % 17 == 0) ? 0.9 : 0.1);
    }
    fclose(f);
}

static float *make_ts(int rows, int cols)
{
    float *ts = bs_alloc_floats((size_t)rows * (size_t)cols);
    for (int t = 0; t < rows; t++)
        for (int c = 0; c < cols; c++)
            ts[t * cols + c] = (float)(100.0 + sin(0.37 * t * (c + 1)) + 0.1 * cos(1.3 * t + c));
    return ts;
}

int main(void)
{
    bs_log_set_handler(count_warnings, NULL);
    char dir[] = "/tmp/bs_clean_errors.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char good[512], short_[512], nocsf[512], badrow[512];
    snprintf(good, sizeof good, "%s/good.tsv", dir);
    snprintf(short_, sizeof short_, "%s/short.tsv", dir);
    snprintf(nocsf, sizeof nocsf, "%s/nocsf.tsv", dir);
    snprintf(badrow, sizeof badrow, "%s/badrow.tsv", dir);
    write_confounds(good, 100, 1, -1);
    write_confounds(short_, 90, 1, -1);
    write_confounds(nocsf, 100, 0, -1);
    write_confounds(badrow, 100, 1, 50);

    bs_error err = {0};
    bs_clean_options o;
    bs_clean_options_init(&o);
    bs_clean_result res;
    float *ts = make_ts(100, 5);
    int rc;

    /* Missing column for 36P. */
    bs_confounds *c = bs_confounds_load(nocsf, BS_CLEAN_36P, NULL, 5, &err);
    CHECK(c == NULL, "36P on a table without csf loaded");
    expect_error(err.code, &err, BS_ERR_FORMAT, "'csf'", "missing csf column");
    /* n/a in the middle of a column. */
    c = bs_confounds_load(badrow, BS_CLEAN_24P, NULL, 5, &err);
    CHECK(c == NULL, "n/a in row 51 accepted");
    expect_error(err.code, &err, BS_ERR_FORMAT, "row 52", "n/a outside the first row");
    /* Unknown strategy and custom without columns. */
    bs_clean_strategy s;
    expect_error(bs_clean_strategy_parse("37P", &s, &err), &err, BS_ERR_USAGE, "37P", "unknown strategy");
    c = bs_confounds_load(good, BS_CLEAN_CUSTOM, "", 5, &err);
    CHECK(c == NULL, "custom with no columns accepted");
    expect_error(err.code, &err, BS_ERR_USAGE, "custom", "custom without columns");
    c = bs_confounds_load(good, BS_CLEAN_CUSTOM, "trans_x, nope", 5, &err);
    CHECK(c == NULL, "custom with unknown column accepted");
    expect_error(err.code, &err, BS_ERR_FORMAT, "'nope'", "custom with an unknown column");
    c = bs_confounds_load("/nonexistent/conf.tsv", BS_CLEAN_24P, NULL, 5, &err);
    CHECK(c == NULL && err.code != BS_OK, "missing file accepted");
    printf("ok: missing file -> %s\n", err.message);

    /* Wrong row count. */
    c = bs_confounds_load(short_, BS_CLEAN_24P, NULL, 5, &err);
    CHECK(c != NULL, "short table failed to load: %s", err.message);
    if (c) {
        rc = bs_clean(ts, 100, 5, 2.0, c, &o, &res, &err);
        expect_error(rc, &err, BS_ERR_DATA, "90 rows", "confounds with the wrong row count");
        bs_confounds_free(c);
    }

    c = bs_confounds_load(good, BS_CLEAN_24P, "csf, csf_derivative1", 5, &err);
    CHECK(c != NULL && c->n_cols == 26 && c->fd && c->fd[0] == 0.0, "24P+csf load: %s", err.message);
    if (!c)
        return 1;
    /* Missing TR. */
    rc = bs_clean(ts, 100, 5, 0.0, c, &o, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "repetition time", "missing TR");
    rc = bs_clean(ts, 100, 5, NAN, c, &o, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "repetition time", "NaN TR");
    /* Without a band-pass the TR is not needed. */
    bs_clean_options nofilter = o;
    nofilter.high_pass_hz = nofilter.low_pass_hz = 0.0;
    rc = bs_clean(ts, 100, 5, 0.0, c, &nofilter, &res, &err);
    CHECK(rc == BS_OK && res.n_rows == 100 - res.n_flagged && res.n_flagged == 5, "no-filter clean: %s", err.message);
    bs_clean_result_free(&res);
    /* High-pass edge above Nyquist. */
    bs_clean_options hp = o;
    hp.high_pass_hz = 0.3;
    hp.low_pass_hz = 0.0;
    rc = bs_clean(ts, 100, 5, 2.0, c, &hp, &res, &err);
    expect_error(rc, &err, BS_ERR_USAGE, "Nyquist", "high-pass edge above Nyquist");
    /* Low-pass at Nyquist: warning, low-pass dropped (nilearn's behaviour). */
    bs_clean_options lp = o;
    lp.low_pass_hz = 0.25;
    warnings = 0;
    rc = bs_clean(ts, 100, 5, 2.0, c, &lp, &res, &err);
    CHECK(rc == BS_OK && warnings == 1, "low-pass at Nyquist: rc %d warnings %d (%s)", rc, warnings, err.message);
    bs_clean_result_free(&res);
    /* Every volume censored. */
    bs_clean_options strict = o;
    strict.fd_threshold = 1e-9;
    strict.dummy_scans = 1; /* FD of the first volume is 0 by definition */
    rc = bs_clean(ts, 100, 5, 2.0, c, &strict, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "exceed", "every volume censored");
    /* Too many dummy scans. */
    bs_clean_options dummies = o;
    dummies.dummy_scans = 100;
    rc = bs_clean(ts, 100, 5, 2.0, c, &dummies, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "dummy", "all volumes dummy scans");
    /* Fewer low-motion volumes than regressors. */
    dummies.dummy_scans = 80;
    dummies.high_pass_hz = dummies.low_pass_hz = 0.0;
    rc = bs_clean(ts, 100, 5, 2.0, c, &dummies, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "regressors", "more regressors than volumes");
    /* Too short for the band-pass (padlen 15 for order 2). */
    dummies.dummy_scans = 86;
    dummies.high_pass_hz = 0.01;
    dummies.low_pass_hz = 0.08;
    bs_clean_options nocensor = dummies;
    nocensor.fd_threshold = 0.0;
    rc = bs_clean(ts, 100, 5, 2.0, NULL, &nocensor, &res, &err);
    expect_error(rc, &err, BS_ERR_DATA, "too few", "too short for the filter");
    /* Zero-variance ROI through the whole clean: written exactly constant
     * (rounding noise would otherwise get a finite correlation), then fc
     * reports it undefined (NaN row/column + warning). */
    {
        float *flat_ts = make_ts(100, 5);
        for (int t = 0; t < 100; t++)
            flat_ts[t * 5 + 3] = 731.25f;
        warnings = 0;
        rc = bs_clean(flat_ts, 100, 5, 2.0, c, &o, &res, &err);
        int exact = rc == BS_OK;
        for (int64_t t = 0; exact && t < res.n_rows; t++)
            exact = res.data[t * 5 + 3] == 0.0f;
        CHECK(rc == BS_OK && res.n_constant_columns == 1 && exact && warnings == 1,
              "constant ROI: rc %d constant %d exact-zero %d warnings %d", rc, res.n_constant_columns, exact, warnings);
        bs_fc_options po;
        bs_fc_options_init(&po);
        float cfc[25];
        bs_fc_info cinfo;
        if (rc == BS_OK) {
            rc = bs_fc_compute(res.data, res.n_rows, 5, &po, cfc, NULL, &cinfo, &err);
            CHECK(rc == BS_OK && cinfo.n_undefined == 1 && cinfo.first_undefined == 3 && isnan(cfc[3 * 5 + 1]) &&
                      !isnan(cfc[0 * 5 + 1]),
                  "fc of the cleaned constant ROI: rc %d undefined %lld first %lld r31 %g", rc,
                  (long long)cinfo.n_undefined, (long long)cinfo.first_undefined, cfc[3 * 5 + 1]);
        }
        bs_clean_result_free(&res);
        /* Nothing removes the mean: the constant itself is kept. */
        bs_clean_options keep_level = o;
        keep_level.detrend_order = -1;
        keep_level.high_pass_hz = keep_level.low_pass_hz = 0.0;
        rc = bs_clean(flat_ts, 100, 5, 2.0, NULL, &keep_level, &res, &err);
        CHECK(rc == BS_OK && res.data[7 * 5 + 3] == 731.25f, "identity clean of a constant ROI: %g",
              rc == BS_OK ? res.data[7 * 5 + 3] : -1.0f);
        bs_clean_result_free(&res);
        bs_free(flat_ts);
        printf("ok: constant ROI -> exact constant after clean, undefined in fc\n");
    }
    /* NaN ROI: stays NaN with a warning. */
    ts[10 * 5 + 2] = NAN;
    warnings = 0;
    rc = bs_clean(ts, 100, 5, 2.0, c, &o, &res, &err);
    CHECK(rc == BS_OK && res.n_nan_columns == 1 && warnings >= 1 && isnan(res.data[2]) && !isnan(res.data[1]),
          "NaN ROI: rc %d nan %d warnings %d", rc, res.n_nan_columns, warnings);
    bs_clean_result_free(&res);
    bs_confounds_free(c);

    /* ---- fc ---- */
    bs_fc_options fo;
    bs_fc_options_init(&fo);
    float *fc = bs_alloc_floats(25);
    for (int t = 0; t < 100; t++)
        ts[t * 5 + 3] = 7.0f; /* zero variance */
    bs_fc_info info;
    unsigned char defined[5];
    warnings = 0;
    rc = bs_fc_compute(ts, 100, 5, &fo, fc, defined, &info, &err);
    CHECK(rc == BS_OK && info.n_undefined == 2 && info.first_undefined == 2 && warnings == 1,
          "fc undefined ROIs: rc %d n %lld first %lld warnings %d", rc, (long long)info.n_undefined,
          (long long)info.first_undefined, warnings);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            int nan_expected = !defined[i] || !defined[j];
            CHECK((isnan(fc[i * 5 + j]) != 0) == nan_expected, "fc[%d,%d] = %g", i, j, fc[i * 5 + j]);
        }
    printf("ok: zero-variance and NaN ROI -> NaN rows/columns with a warning\n");
    /* Singular partial correlation without ridge: error, not a crash. */
    float *wide = make_ts(4, 5);
    fo.kind = BS_FC_PARTIAL;
    fo.partial_ridge = 0.0;
    rc = bs_fc_compute(wide, 4, 5, &fo, fc, NULL, NULL, &err);
    expect_error(rc, &err, BS_ERR_NUMERIC, "ridge", "singular partial correlation");
    fo.partial_ridge = 0.1;
    rc = bs_fc_compute(wide, 4, 5, &fo, fc, NULL, NULL, &err);
    CHECK(rc == BS_OK, "ridge 0.1 partial failed: %s", err.message);
    rc = bs_fc_compute(wide, 1, 5, &fo, fc, NULL, NULL, &err);
    expect_error(rc, &err, BS_ERR_DATA, "at least 2", "one volume");
    bs_fc_kind kind;
    expect_error(bs_fc_kind_parse("tangent", &kind, &err), &err, BS_ERR_USAGE, "tangent", "unknown fc kind");

    bs_free(wide);
    bs_free(fc);
    bs_free(ts);
    unlink(good);
    unlink(short_);
    unlink(nocsf);
    unlink(badrow);
    rmdir(dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
