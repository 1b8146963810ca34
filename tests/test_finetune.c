/* tests/test_finetune.c - fine-tuning BrainMass without Python: it learns a
 * planted group difference, is deterministic for a seed (with 1 and with 2
 * threads), freezing keeps the
 * encoder and readout fixed, early stopping keeps its best epoch, models
 * round-trip through safetensors, cross-validation fits on training
 * subjects only, and bad input fails with one clear error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "brainstage/brainmass_finetune.h"
#include "brainstage/eval.h"
#include "brainstage/heads.h"
#include "brainstage/nn.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"
#include "testutil.h"

enum { R = 8, T = 90, N = 24 };

static char tmpdir[] = "/tmp/test_finetune.XXXXXX";

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Subject i: class i % 2; class 1 shares an extra AR(1) signal over ROIs 0-3
 * (a planted block of stronger edges).  Two networks of 4 ROIs each. */
static void make_series(int i, float *ts)
{
    bs_rng *rng = bs_rng_derive(77, (uint64_t)i);
    double z[2] = {0, 0}, w = 0;
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 2; k++)
            z[k] = 0.5 * z[k] + bs_rng_gaussian(rng, 1.0);
        w = 0.5 * w + bs_rng_gaussian(rng, 1.0);
        for (int r = 0; r < R; r++) {
            double x = 0.6 * z[r / 4] + bs_rng_gaussian(rng, 1.0);
            if (i % 2 && r < 4)
                x += 1.0 * w;
            ts[t * R + r] = (float)x;
        }
    }
    bs_rng_free(rng);
}

static void arch(bs_brainmass_config *a)
{
    bs_brainmass_config_small(a, R);
    a->ffn = 16;
    a->dropout = 0.1;
}

static void small_cfg(bs_finetune_config *c)
{
    bs_finetune_config_default(c);
    c->hidden1 = 16;
    c->hidden2 = 8;
    c->epochs = 25;
    c->batch = 8;
    c->lr = 3e-3;
    c->seed = 5;
}

static float *series[N];
static int64_t lens[N];
static int32_t subj[N], y[N];
static const char *const names2[2] = {"control", "patient"};

static void build_series_data(bs_finetune_data *d)
{
    bs_error err = {0};
    CHECK_MSG(bs_finetune_data_from_series(N, (const float *const *)series, lens, R, subj, N, 0.8, 9, NULL, d, &err) ==
                  BS_OK,
              "%s", err.message);
}

/* What most tests start from: the series data, a small architecture and
 * fine-tuning settings, and the row list 0..N-1. */
typedef struct fixture {
    bs_finetune_data d;
    bs_brainmass_config a;
    bs_finetune_config cfg;
    int64_t rows[N];
} fixture;

static void fixture_init(fixture *f)
{
    build_series_data(&f->d);
    arch(&f->a);
    small_cfg(&f->cfg);
    for (int i = 0; i < N; i++)
        f->rows[i] = i;
}

static double auc_of(const double *probs, const int64_t *rows, int64_t n)
{
    int32_t yt[N];
    double s[2 * N];
    for (int64_t i = 0; i < n; i++) {
        yt[i] = y[rows[i]];
        s[2 * i] = probs[2 * i];
        s[2 * i + 1] = probs[2 * i + 1];
    }
    return bs_metric_auc(yt, s, n, 2);
}

static void test_learns_and_determinism(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    int64_t train[16], test[8];
    int32_t ytr[16];
    for (int i = 0; i < 16; i++)
        train[i] = i, ytr[i] = y[i];
    for (int i = 0; i < 8; i++)
        test[i] = 16 + i;
    double p1[16], p2[16], p3[16];
    for (int rep = 0; rep < 3; rep++) {
        bs_finetune_config c = f.cfg;
        if (rep == 2)
            c.seed = 6;
        bs_finetune *ft = bs_finetune_new(NULL, &f.a, 2, names2, &c, &err);
        CHECK_MSG(ft != NULL, "%s", err.message);
        if (!ft)
            return;
        bs_finetune_report r;
        CHECK_MSG(bs_finetune_fit(ft, &f.d, train, 16, ytr, &r, &err) == BS_OK, "%s", err.message);
        CHECK(r.epochs_run == f.cfg.epochs && r.best_epoch == f.cfg.epochs && isnan(r.best_val_loss));
        CHECK_MSG(r.last_loss < r.first_loss, "training loss %g -> %g", r.first_loss, r.last_loss);
        double *p = rep == 0 ? p1 : rep == 1 ? p2 : p3;
        CHECK_MSG(bs_finetune_predict(ft, &f.d, test, 8, p, &err) == BS_OK, "%s", err.message);
        if (rep == 0) {
            double auc = auc_of(p, test, 8);
            fprintf(stderr, "held-out AUC after fine-tuning from scratch: %.3f (loss %.3f -> %.3f)\n", auc,
                    r.first_loss, r.last_loss);
            CHECK_MSG(auc >= 0.9, "held-out AUC %.3f on a strong planted difference", auc);
        }
        bs_finetune_free(ft);
    }
    CHECK_MSG(!memcmp(p1, p2, sizeof p1), "two fits with one seed differ");
    CHECK_MSG(memcmp(p1, p3, sizeof p1), "a different seed gives identical predictions");
    bs_finetune_data_free(&f.d);
}

static void test_freeze_and_pretrained_copy(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    bs_brainmass *pre = bs_brainmass_new(&f.a, 3, &err);
    f.cfg.freeze_encoder = 1;
    f.cfg.epochs = 3;
    bs_finetune *ft = bs_finetune_new(pre, NULL, 2, names2, &f.cfg, &err);
    CHECK_MSG(ft != NULL, "%s", err.message);
    /* the copy starts equal to the pretrained encoder: same embedding path */
    bs_brainmass_tensor pt;
    bs_finetune_tensor t0, t1;
    bs_brainmass_tensor_find(pre, "online_network.attention_list.1.linear1.weight", &pt);
    bs_finetune_tensor_find(ft, "online_network.attention_list.1.linear1.weight", &t0);
    CHECK(!memcmp(pt.data, t0.data, sizeof(float) * (size_t)(t0.shape[0] * t0.shape[1])));
    float *before_red = malloc(sizeof(float) * 8 * R), *before_w8 = malloc(sizeof(float) * 16);
    bs_finetune_tensor_find(ft, "online_network.dim_reduction.0.weight", &t1);
    memcpy(before_red, t1.data, sizeof(float) * 8 * R);
    bs_finetune_tensor w8;
    bs_finetune_tensor_find(ft, "classifier.net.8.weight", &w8);
    memcpy(before_w8, w8.data, sizeof(float) * 16);
    CHECK_MSG(bs_finetune_fit(ft, &f.d, f.rows, N, y, NULL, &err) == BS_OK, "%s", err.message);
    CHECK_MSG(!memcmp(pt.data, t0.data, sizeof(float) * (size_t)(t0.shape[0] * t0.shape[1])),
              "a frozen encoder moved");
    CHECK_MSG(!memcmp(before_red, t1.data, sizeof(float) * 8 * R), "a frozen readout moved");
    CHECK_MSG(memcmp(before_w8, w8.data, sizeof(float) * 16), "the head did not learn");
    free(before_red);
    free(before_w8);
    bs_finetune_free(ft);
    /* not frozen: the encoder moves, the pretrained model does not */
    f.cfg.freeze_encoder = 0;
    f.cfg.epochs = 1;
    ft = bs_finetune_new(pre, NULL, 2, names2, &f.cfg, &err);
    bs_finetune_tensor_find(ft, "online_network.attention_list.1.linear1.weight", &t0);
    CHECK_MSG(bs_finetune_fit(ft, &f.d, f.rows, N, y, NULL, &err) == BS_OK, "%s", err.message);
    CHECK_MSG(memcmp(pt.data, t0.data, sizeof(float) * (size_t)(t0.shape[0] * t0.shape[1])),
              "the encoder did not move when not frozen");
    bs_brainmass_tensor again;
    bs_brainmass_tensor_find(pre, "online_network.attention_list.1.linear1.weight", &again);
    CHECK(again.data == pt.data);
    bs_finetune_free(ft);
    bs_brainmass_free(pre);
    bs_finetune_data_free(&f.d);
}

static void test_early_stopping(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    f.cfg.epochs = 60;
    f.cfg.patience = 3;
    f.cfg.val_fraction = 0.25;
    f.cfg.lr = 2e-2; /* overfits fast: validation loss turns up */
    bs_finetune *ft = bs_finetune_new(NULL, &f.a, 2, names2, &f.cfg, &err);
    bs_finetune_report r;
    CHECK_MSG(bs_finetune_fit(ft, &f.d, f.rows, N, y, &r, &err) == BS_OK, "%s", err.message);
    fprintf(stderr, "early stopping: %d epochs run, best epoch %d, validation loss %.4f\n", r.epochs_run,
            r.best_epoch, r.best_val_loss);
    CHECK(isfinite(r.best_val_loss));
    CHECK(r.best_epoch >= 1 && r.best_epoch <= r.epochs_run);
    CHECK(r.epochs_run == f.cfg.epochs || r.epochs_run - r.best_epoch == f.cfg.patience);
    bs_finetune_free(ft);
    bs_finetune_data_free(&f.d);
}

static void test_save_load(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    f.cfg.epochs = 2;
    bs_finetune *ft = bs_finetune_new(NULL, &f.a, 2, names2, &f.cfg, &err);
    CHECK(bs_finetune_fit(ft, &f.d, f.rows, N, y, NULL, &err) == BS_OK);
    CHECK_MSG(bs_finetune_save(ft, tmp("ft.safetensors"), &err) == BS_OK, "%s", err.message);
    bs_finetune *back = bs_finetune_load(tmp("ft.safetensors"), &err);
    CHECK_MSG(back != NULL, "%s", err.message);
    if (back) {
        double p1[2 * N], p2[2 * N];
        CHECK(bs_finetune_predict(ft, &f.d, f.rows, N, p1, &err) == BS_OK);
        CHECK(bs_finetune_predict(back, &f.d, f.rows, N, p2, &err) == BS_OK);
        CHECK_MSG(!memcmp(p1, p2, sizeof p1), "reloaded model predicts differently");
        CHECK(!strcmp(bs_finetune_class_name(back, 1), "patient"));
        CHECK(bs_finetune_step_count(back) == bs_finetune_step_count(ft));
        bs_finetune_free(back);
    }
    CHECK(bs_finetune_is_model_file(tmp("ft.safetensors"), &err) == 1);
    /* a fine-tuned file is not a feature head, and a feature head is not a fine-tuned model */
    bs_head *h = bs_head_load(tmp("ft.safetensors"), &err);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.message, "fine-tuned BrainMass model");
    float X[8] = {0, 1, 1, 0, 2, 1, 1, 3};
    int32_t hy[4] = {0, 1, 0, 1};
    bs_head_params hp;
    bs_head_params_default(&hp, BS_HEAD_LOGREG);
    h = bs_head_fit_classifier(&hp, X, 4, 2, hy, 2, NULL, &err);
    CHECK(h && bs_head_save(h, tmp("head.safetensors"), &err) == BS_OK);
    bs_head_free(h);
    CHECK(bs_finetune_is_model_file(tmp("head.safetensors"), &err) == 0);
    memset(&err, 0, sizeof err);
    CHECK(bs_finetune_load(tmp("head.safetensors"), &err) == NULL);
    CHECK_CONTAINS(err.message, "not a fine-tuned BrainMass model");
    bs_finetune_free(ft);
    bs_finetune_data_free(&f.d);
}

/* A learner that wraps the fine-tune learner and records which f.rows each
 * split trained on, to prove the test f.rows never were among them. */
typedef struct spy {
    bs_eval_learner inner;
    uint8_t trained[N];
    int leaks, fits;
} spy;

static void *spy_fit(void *user, const int64_t *rows, int64_t n, const int32_t *yy, int k, const char *const *cn,
                     uint64_t seed, bs_error *err)
{
    spy *s = user;
    memset(s->trained, 0, sizeof s->trained);
    for (int64_t i = 0; i < n; i++)
        s->trained[rows[i]] = 1;
    s->fits++;
    return s->inner.fit(s->inner.user, rows, n, yy, k, cn, seed, err);
}

static int spy_scores(void *user, void *model, const int64_t *rows, int64_t n, double *sc, bs_error *err)
{
    spy *s = user;
    for (int64_t i = 0; i < n; i++)
        s->leaks += s->trained[rows[i]];
    return s->inner.scores(s->inner.user, model, rows, n, sc, err);
}

static void spy_release(void *user, void *model)
{
    spy *s = user;
    s->inner.release(s->inner.user, model);
}

static void test_cross_validation(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    bs_finetune_learner fl = {0};
    fl.arch = f.a;
    fl.data = &f.d;
    fl.cfg = f.cfg;
    spy s = {0};
    bs_finetune_learner_init(&fl, &s.inner);
    bs_eval_learner lr = {"finetune", s.inner.params_json, &s, spy_fit, spy_scores, spy_release};
    bs_labels lab;
    const char *vals[N];
    for (int i = 0; i < N; i++)
        vals[i] = names2[y[i]];
    CHECK(bs_labels_from_strings(vals, N, BS_LABELS_CLASSES, "group", &lab, &err) == BS_OK);
    bs_eval_config ec;
    bs_eval_config_default(&ec, BS_HEAD_FINETUNE);
    ec.folds = 4;
    ec.learner = &lr;
    bs_eval_result res;
    CHECK_MSG(bs_evaluate(&ec, NULL, N, (int64_t)R * R, &lab, &res, &err) == BS_OK, "%s", err.message);
    CHECK(s.fits == 4 && s.leaks == 0);
    fprintf(stderr, "4-fold fine-tuning from scratch: AUC %.3f +- %.3f, acc %.3f\n", res.mean[2], res.sd[2],
            res.mean[0]);
    CHECK_MSG(res.mean[2] > 0.8, "4-fold AUC %.3f", res.mean[2]);
    CHECK(bs_eval_write_json(&res, &ec, &lab, tmp("cv.json"), &err) == BS_OK);
    FILE *fp = fopen(tmp("cv.json"), "r");
    char buf[4096] = {0};
    if (fp) {
        CHECK(fread(buf, 1, sizeof buf - 1, fp) > 0);
        fclose(fp);
    }
    CHECK_CONTAINS(buf, "\"head\": \"finetune\"");
    CHECK_CONTAINS(buf, "\"augment\": \"pfc\"");
    bs_eval_result_free(&res);
    /* few-shot through the same learner */
    ec.protocol = BS_EVAL_FEWSHOT;
    ec.shots = 3;
    ec.repeats = 2;
    s.fits = s.leaks = 0;
    CHECK_MSG(bs_evaluate(&ec, NULL, N, (int64_t)R * R, &lab, &res, &err) == BS_OK, "%s", err.message);
    CHECK(s.fits == 2 && s.leaks == 0 && res.n_train[0] == 6 && res.n_test[0] == N - 6);
    bs_eval_result_free(&res);
    /* a split whose test f.rows hold one class only is refused before any fit */
    int32_t fold[N];
    for (int i = 0; i < N; i++)
        fold[i] = 1 + (i % 3);
    for (int i = 0; i < 4; i++)
        fold[2 * i] = 0; /* fold 0: four controls only */
    bs_splits sp;
    CHECK(bs_splits_from_folds(fold, N, &sp, &err) == BS_OK);
    ec.protocol = BS_EVAL_SPLITS;
    ec.splits = &sp;
    s.fits = 0;
    CHECK(bs_evaluate(&ec, NULL, N, (int64_t)R * R, &lab, &res, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "no test subject of class");
    CHECK(s.fits == 0);
    bs_splits_free(&sp);
    bs_labels_free(&lab);
    bs_finetune_data_free(&f.d);
}

static void test_bad_input(void)
{
    bs_error err = {0};
    fixture f;
    fixture_init(&f);
    bs_finetune *ft = bs_finetune_new(NULL, &f.a, 2, names2, &f.cfg, &err);
    int32_t one[N] = {0};
    /* one class only among the training subjects */
    CHECK(bs_finetune_fit(ft, &f.d, f.rows, N, one, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "class 'patient' has no training subject");
    /* early stopping with a class of one training subject */
    bs_finetune_config es = f.cfg;
    es.patience = 2;
    CHECK(bs_finetune_set_training(ft, &es, &err) == BS_OK);
    int64_t three[3] = {0, 1, 2};
    CHECK(bs_finetune_fit(ft, &f.d, three, 3, y, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "early stopping needs at least 2 training subjects of class 'patient'");
    CHECK(bs_finetune_set_training(ft, &f.cfg, &err) == BS_OK);
    /* ROI count of the data differs from the model's */
    bs_finetune_data wide;
    float *fcw = bs_alloc_floats((size_t)N * 10 * 10);
    CHECK(bs_finetune_data_from_fc(fcw, N, 10, &wide, &err) == BS_OK);
    CHECK(bs_finetune_fit(ft, &wide, f.rows, N, y, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "the model has 8 ROIs, the data 10");
    bs_finetune_data_free(&wide);
    bs_free(fcw);
    /* pFC augmentation needs time series */
    bs_finetune_data fconly;
    CHECK(bs_finetune_data_from_fc(f.d.fc, N, R, &fconly, &err) == BS_OK);
    CHECK(bs_finetune_fit(ft, &fconly, f.rows, N, y, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "pFC augmentation needs the ROI time series");
    bs_finetune_data_free(&fconly);
    /* non-finite FC, a training batch of one, labels out of range */
    float fc[2 * R * R];
    memcpy(fc, f.d.fc, sizeof fc);
    fc[5] = NAN;
    int32_t yy[2] = {0, 1};
    CHECK(bs_finetune_compute_grads(ft, fc, yy, 2, 1, NULL, NULL, &err) == BS_ERR_NUMERIC);
    CHECK_CONTAINS(err.message, "non-finite");
    CHECK(bs_finetune_compute_grads(ft, f.d.fc, yy, 1, 1, NULL, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "at least 2 (BatchNorm)");
    yy[1] = 2;
    CHECK(bs_finetune_compute_grads(ft, f.d.fc, yy, 2, 1, NULL, NULL, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "expected 0..1");
    /* invalid settings */
    bs_finetune_config badc = f.cfg;
    badc.batch = 1;
    CHECK(bs_finetune_set_training(ft, &badc, &err) != BS_OK);
    CHECK_CONTAINS(err.message, "batch 1");
    CHECK(bs_finetune_new(NULL, &f.a, 1, NULL, &f.cfg, &err) == NULL);
    CHECK_CONTAINS(err.message, "need at least 2");
    /* NaN in a time series: that ROI becomes zeros instead of failing */
    float *ts = malloc(sizeof(float) * T * R);
    memcpy(ts, series[0], sizeof(float) * T * R);
    ts[3 * R + 2] = NAN;
    const float *one_ts[1] = {ts};
    int64_t tl[1] = {T};
    int32_t s0[1] = {0};
    bs_finetune_data nd;
    CHECK_MSG(bs_finetune_data_from_series(1, one_ts, tl, R, s0, 1, 0.8, 1, NULL, &nd, &err) == BS_OK, "%s",
              err.message);
    CHECK(nd.fc[2 * R + 2] == 0.0f && nd.fc[2 * R + 3] == 0.0f);
    bs_finetune_data_free(&nd);
    free(ts);
    bs_finetune_free(ft);
    bs_finetune_data_free(&f.d);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }
    for (int i = 0; i < N; i++) {
        series[i] = malloc(sizeof(float) * T * R);
        make_series(i, series[i]);
        lens[i] = T;
        subj[i] = i;
        y[i] = i % 2;
    }
    /* One thread for speed on a loaded machine (thousands of tiny parallel
     * regions); the determinism test also runs with two. */
    nn_set_num_threads(1);
    test_learns_and_determinism();
    nn_set_num_threads(2);
    test_learns_and_determinism();
    nn_set_num_threads(1);
    test_freeze_and_pretrained_copy();
    test_early_stopping();
    test_save_load();
    test_cross_validation();
    test_bad_input();
    for (int i = 0; i < N; i++)
        free(series[i]);
    unlink(tmp("ft.safetensors"));
    unlink(tmp("head.safetensors"));
    unlink(tmp("cv.json"));
    rmdir(tmpdir);
    return TEST_RESULT();
}
