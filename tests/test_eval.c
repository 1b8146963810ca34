/* test_eval.c - splits (stratification, few-shot), labels from a BIDS
 * participants.tsv, feature readers, FC vectorisation, bs_evaluate and its
 * reports, and the one-line errors for bad input. */
#include "brainstage/eval.h"
#include "brainstage/rng.h"
#include "brainstage/safetensors.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
static char dir[] = "/tmp/bs-test-eval-XXXXXX";

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
            printf(__VA_ARGS__);                                                                           \
            printf("\n");                                                                                  \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

/* An error must be set, with the expected code and a one-line message. */
#define CHECK_ERR(rc, err, want, what)                                                                     \
    do {                                                                                                   \
        CHECK((rc) == (want) && (err).code == (want) && (err).message[0] && !strchr((err).message, '\n'), \
              "%s: expected error %d, got %d (%s)", what, (int)(want), (int)(rc), (err).message);          \
        if ((rc) == (want))                                                                                \
            printf("ok   %s -> %s\n", what, (err).message);                                                \
    } while (0)

static char *in_dir(const char *name)
{
    static char buf[4][512];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static void write_file(const char *name, const char *text)
{
    FILE *fp = fopen(in_dir(name), "w");
    fputs(text, fp);
    fclose(fp);
}

static void test_stratified(void)
{
    enum { N = 103, K = 3, F = 5 };
    int32_t y[N];
    int64_t count[K] = {0};
    for (int i = 0; i < N; i++) {
        y[i] = i < 50 ? 0 : i < 83 ? 1 : 2; /* 50 / 33 / 20 */
        count[y[i]]++;
    }
    bs_splits s, s2, s3;
    bs_error err = {0};
    CHECK(bs_splits_stratified_kfold(y, N, K, F, 7, &s, &err) == BS_OK, "%s", err.message);
    int ok = 1;
    int tested[N] = {0};
    for (int f = 0; f < F; f++) {
        int64_t per[K] = {0}, size = 0;
        for (int i = 0; i < N; i++)
            if (s.role[f * N + i] == BS_SPLIT_TEST) {
                per[y[i]]++;
                size++;
                tested[i]++;
            }
        for (int c = 0; c < K; c++)
            if (per[c] < count[c] / F || per[c] > (count[c] + F - 1) / F)
                ok = 0;
        if (size < N / F || size > (N + F - 1) / F)
            ok = 0;
    }
    for (int i = 0; i < N; i++)
        ok &= tested[i] == 1;
    CHECK(ok, "stratified folds: class counts per fold not within floor/ceil of count/k, or a row not tested once");
    printf("ok   stratified 5-fold keeps class proportions (per class and fold within floor/ceil)\n");
    CHECK(bs_splits_stratified_kfold(y, N, K, F, 7, &s2, &err) == BS_OK &&
              memcmp(s.role, s2.role, (size_t)(F * N)) == 0,
          "same seed gave different folds");
    CHECK(bs_splits_stratified_kfold(y, N, K, F, 8, &s3, &err) == BS_OK &&
              memcmp(s.role, s3.role, (size_t)(F * N)) != 0,
          "different seed gave the same folds");
    printf("ok   stratified folds deterministic for a seed, different for another\n");
    bs_splits_free(&s);
    bs_splits_free(&s2);
    bs_splits_free(&s3);

    int rc = bs_splits_stratified_kfold(y, 4, K, F, 7, &s, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "fewer samples than folds");
    int32_t few[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
    rc = bs_splits_stratified_kfold(few, 12, 2, 5, 7, &s, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "class smaller than the number of folds");

    CHECK(bs_splits_kfold(N, F, 3, &s, &err) == BS_OK, "%s", err.message);
    memset(tested, 0, sizeof tested);
    for (int f = 0; f < F; f++)
        for (int i = 0; i < N; i++)
            tested[i] += s.role[f * N + i] == BS_SPLIT_TEST;
    ok = 1;
    for (int i = 0; i < N; i++)
        ok &= tested[i] == 1;
    CHECK(ok, "k-fold: a row not tested exactly once");
    bs_splits_free(&s);
}

static void test_fewshot(void)
{
    enum { N = 60, K = 3, SHOTS = 4, REP = 6 };
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = (i * 7) % K;
    bs_splits s, s2;
    bs_error err = {0};
    CHECK(bs_splits_fewshot(y, N, K, SHOTS, REP, 5, &s, &err) == BS_OK, "%s", err.message);
    int ok = 1, differ = 0;
    for (int r = 0; r < REP; r++) {
        int per[K] = {0}, test = 0;
        for (int i = 0; i < N; i++) {
            if (s.role[r * N + i] == BS_SPLIT_TRAIN)
                per[y[i]]++;
            else if (s.role[r * N + i] == BS_SPLIT_TEST)
                test++;
        }
        for (int c = 0; c < K; c++)
            ok &= per[c] == SHOTS;
        ok &= test == N - K * SHOTS;
        if (r > 0 && memcmp(s.role, s.role + r * N, N) != 0)
            differ = 1;
    }
    CHECK(ok, "few-shot: not exactly %d training rows per class", SHOTS);
    CHECK(differ, "few-shot: all repeats drew the same rows");
    CHECK(bs_splits_fewshot(y, N, K, SHOTS, REP, 5, &s2, &err) == BS_OK &&
              memcmp(s.role, s2.role, (size_t)(REP * N)) == 0,
          "few-shot not deterministic");
    printf("ok   few-shot: exactly %d per class, rest test, repeats differ, deterministic\n", SHOTS);
    bs_splits_free(&s);
    bs_splits_free(&s2);
    int rc = bs_splits_fewshot(y, N, K, 20, REP, 5, &s, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "few-shot with shots >= class size");
}

static void test_labels(void)
{
    write_file("participants.tsv", "participant_id\tgroup\tage\tsite\n"
                                   "sub-01\tpatient\t31.5\t10\n"
                                   "sub-02\tcontrol\t40\t2\n"
                                   "sub-03\tpatient\t22\t2\n"
                                   "sub-04\tcontrol\t55\t10\n"
                                   "sub-05\tn/a\t60\t2\n");
    const char *ids[4] = {"sub-03", "01", "sub-02", "04"};
    bs_labels l;
    bs_error err = {0};
    int rc = bs_labels_from_participants(in_dir("participants.tsv"), "group", BS_LABELS_AUTO, ids, 4, &l, &err);
    CHECK(rc == BS_OK && l.n_classes == 2 && !strcmp(l.class_names[0], "control") && l.y[0] == 1 && l.y[1] == 1 &&
              l.y[2] == 0 && l.y[3] == 0,
          "group labels wrong (%s)", err.message);
    bs_labels_free(&l);
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "site", BS_LABELS_AUTO, ids, 4, &l, &err);
    CHECK(rc == BS_OK && l.n_classes == 2 && !strcmp(l.class_names[0], "2") && !strcmp(l.class_names[1], "10"),
          "numeric classes must sort by value");
    bs_labels_free(&l);
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "age", BS_LABELS_CONTINUOUS, ids, 4, &l, &err);
    CHECK(rc == BS_OK && l.n_classes == 0 && l.target && l.target[1] == 31.5, "age target wrong");
    bs_labels_free(&l);
    printf("ok   labels from participants.tsv (sub- prefix optional, numeric classes by value, continuous age)\n");

    rc = bs_labels_from_participants(in_dir("participants.tsv"), "diagnosis", BS_LABELS_AUTO, ids, 4, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "participants.tsv without the label column");
    const char *ids5[2] = {"sub-01", "sub-05"};
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "group", BS_LABELS_AUTO, ids5, 2, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "subject without a label");
    const char *ids9[2] = {"sub-01", "sub-09"};
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "group", BS_LABELS_AUTO, ids9, 2, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "subject missing from participants.tsv");
    const char *same[2] = {"sub-01", "sub-03"};
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "group", BS_LABELS_AUTO, same, 2, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "only one class among the subjects");
    write_file("noid.tsv", "subject\tgroup\nsub-01\ta\n");
    rc = bs_labels_from_participants(in_dir("noid.tsv"), "group", BS_LABELS_AUTO, ids, 1, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_FORMAT, "participants.tsv without participant_id");
    rc = bs_labels_from_participants(in_dir("participants.tsv"), "group", BS_LABELS_CONTINUOUS, ids, 4, &l, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "text in a continuous column");
}

static void test_features(void)
{
    write_file("feat.tsv", "participant_id\tf0\tf1\tf2\nsub-01\t1.5\t2\t-3\nsub-02\t4\t5e-1\t6\n");
    bs_features f;
    bs_error err = {0};
    int rc = bs_features_read(in_dir("feat.tsv"), &f, &err);
    CHECK(rc == BS_OK && f.n == 2 && f.d == 3 && f.X[1] == 2.0f && f.X[4] == 0.5f && !strcmp(f.ids[1], "sub-02"),
          "feature TSV misread (%s)", err.message);
    bs_features_free(&f);
    write_file("badfeat.tsv", "participant_id\tf0\nsub-01\tabc\n");
    rc = bs_features_read(in_dir("badfeat.tsv"), &f, &err);
    CHECK_ERR(rc, err, BS_ERR_FORMAT, "non-numeric feature cell");

    float m[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    bs_st_writer *w = bs_st_writer_new();
    bs_st_writer_add(w, "features", BS_ST_F32, 2, shape, m, &err);
    bs_st_writer_set_metadata(w, "participant_id", "[\"sub-a\", \"sub-b\"]", &err);
    rc = bs_st_writer_write(w, in_dir("feat.safetensors"), &err);
    bs_st_writer_free(w);
    CHECK(rc == BS_OK, "write safetensors: %s", err.message);
    rc = bs_features_read(in_dir("feat.safetensors"), &f, &err);
    CHECK(rc == BS_OK && f.n == 2 && f.d == 3 && f.X[5] == 6.0f && !strcmp(f.ids[0], "sub-a"),
          "feature safetensors misread (%s)", err.message);
    bs_features_free(&f);
    printf("ok   features from TSV and safetensors\n");

    /* FC upper triangle, numpy triu_indices(r, 1) order. */
    float fc[2 * 9] = {1, 2, 3, 2, 1, 4, 3, 4, 1, /* subject 0 */ 1, 5, 6, 5, 1, 7, 6, 7, 1};
    float v[6];
    bs_fc_vectorize(fc, 2, 3, v);
    CHECK(bs_fc_vector_length(3) == 3 && v[0] == 2 && v[1] == 3 && v[2] == 4 && v[3] == 5 && v[5] == 7,
          "FC vectorisation order");
    printf("ok   FC upper triangle without diagonal\n");
}

static int no_temp_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int clean = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp"))
            clean = 0;
    closedir(d);
    return clean;
}

static void test_evaluate(void)
{
    enum { N = 80, D = 6 };
    float X[N * D];
    bs_rng *rng = bs_rng_new(11);
    bs_labels l;
    memset(&l, 0, sizeof l);
    int32_t y[N];
    char *names[2] = {"control", "patient"};
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)(bs_rng_gaussian(rng, 1.0) + (j == 0 ? 6.0 * y[i] : 0));
    }
    l.n = N;
    l.n_classes = 2;
    l.y = y;
    l.class_names = names;
    l.column = "group";
    bs_eval_config cfg;
    bs_eval_result r;
    bs_error err = {0};
    bs_eval_config_default(&cfg, BS_HEAD_LOGREG);
    int rc = bs_evaluate(&cfg, X, N, D, &l, &r, &err);
    CHECK(rc == BS_OK && r.n_splits == 5 && r.mean[0] >= 0.95 && r.mean[2] >= 0.99,
          "well-separated data: acc %g auc %g (%s)", r.mean[0], r.mean[2], err.message);
    printf("ok   5-fold logreg on well-separated data: acc %.3f auc %.3f\n", r.mean[0], r.mean[2]);
    CHECK(bs_eval_write_tsv(&r, in_dir("cv.tsv"), &err) == BS_OK, "%s", err.message);
    CHECK(bs_eval_write_json(&r, &cfg, &l, in_dir("cv.json"), &err) == BS_OK, "%s", err.message);
    const char *ids[N];
    char idbuf[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "sub-%02d", i);
        ids[i] = idbuf[i];
    }
    CHECK(bs_eval_write_predictions(&r, &l, ids, in_dir("pred.tsv"), &err) == BS_OK, "%s", err.message);
    CHECK(access(in_dir("cv.tsv"), R_OK) == 0 && access(in_dir("cv.json"), R_OK) == 0 && no_temp_files(),
          "reports missing or temporaries left");
    bs_eval_result_free(&r);

    /* Few-shot with the prototype head, and the other heads via k-fold. */
    cfg.head.kind = BS_HEAD_CENTROID;
    cfg.protocol = BS_EVAL_FEWSHOT;
    cfg.shots = 3;
    cfg.repeats = 4;
    rc = bs_evaluate(&cfg, X, N, D, &l, &r, &err);
    CHECK(rc == BS_OK && r.n_splits == 4 && r.n_train[0] == 6 && r.n_test[0] == N - 6 && r.oof_scores == NULL,
          "few-shot centroid (%s)", err.message);
    printf("ok   3-shot centroid: acc %.3f +- %.3f over 4 draws\n", r.mean[0], r.sd[0]);
    bs_eval_result_free(&r);
    bs_head_kind kinds[] = {BS_HEAD_SVM, BS_HEAD_MLP};
    for (int t = 0; t < 2; t++) {
        bs_eval_config_default(&cfg, kinds[t]);
        cfg.head.max_iter = kinds[t] == BS_HEAD_MLP ? 30 : cfg.head.max_iter;
        rc = bs_evaluate(&cfg, X, N, D, &l, &r, &err);
        CHECK(rc == BS_OK && r.mean[0] > 0.9, "%s k-fold acc %g (%s)", bs_head_kind_name(kinds[t]), r.mean[0],
              err.message);
        printf("ok   5-fold %s: acc %.3f\n", bs_head_kind_name(kinds[t]), r.mean[0]);
        bs_eval_result_free(&r);
    }

    /* Regression. */
    double target[N];
    for (int i = 0; i < N; i++)
        target[i] = 30 + 5 * X[i * D + 1] + bs_rng_gaussian(rng, 0.5);
    bs_labels lr = {.n = N, .target = target, .column = "age"};
    bs_eval_config_default(&cfg, BS_HEAD_RIDGE);
    rc = bs_evaluate(&cfg, X, N, D, &lr, &r, &err);
    CHECK(rc == BS_OK && r.n_metrics == 3 && r.mean[1] > 0.9, "ridge: r %g (%s)", r.mean[1], err.message);
    printf("ok   5-fold ridge on age: MAE %.3f r %.3f\n", r.mean[0], r.mean[1]);
    bs_eval_result_free(&r);

    /* Bad input. */
    bs_eval_config_default(&cfg, BS_HEAD_LOGREG);
    cfg.folds = 25;
    rc = bs_evaluate(&cfg, X, 40, D, &(bs_labels){.n = 40, .n_classes = 2, .y = y, .class_names = names}, &r, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "evaluate: class smaller than the folds");
    cfg.folds = 5;
    rc = bs_evaluate(&cfg, X, 3, D, &(bs_labels){.n = 3, .n_classes = 2, .y = y, .class_names = names}, &r, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "evaluate: fewer subjects than folds");
    int32_t fold[N];
    for (int i = 0; i < N; i++)
        fold[i] = i < 40 ? (i % 2) : 2; /* fold 2's test rows: both classes; fold 0 tests only class 0 */
    for (int i = 0; i < 40; i++)
        fold[i] = y[i] == 0 ? 0 : 1;
    bs_splits s;
    CHECK(bs_splits_from_folds(fold, N, &s, &err) == BS_OK, "%s", err.message);
    cfg.protocol = BS_EVAL_SPLITS;
    cfg.splits = &s;
    rc = bs_evaluate(&cfg, X, N, D, &l, &r, &err);
    CHECK_ERR(rc, err, BS_ERR_DATA, "evaluate: a test fold with one class only");
    bs_splits_free(&s);
    cfg.protocol = BS_EVAL_KFOLD;
    rc = bs_evaluate(&cfg, X, N, D, &lr, &r, &err);
    CHECK_ERR(rc, err, BS_ERR_USAGE, "evaluate: logreg on a continuous target");
    cfg.protocol = BS_EVAL_FEWSHOT;
    cfg.head.kind = BS_HEAD_RIDGE;
    rc = bs_evaluate(&cfg, X, N, D, &lr, &r, &err);
    CHECK_ERR(rc, err, BS_ERR_USAGE, "evaluate: few-shot on a continuous target");
    rc = bs_eval_write_tsv(&r, "/nonexistent-dir/x.tsv", &err);
    CHECK(rc != BS_OK && access("/nonexistent-dir/x.tsv", F_OK) != 0, "write into a missing folder succeeded");
    bs_rng_free(rng);
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' || strlen(e->d_name) > 2;
    closedir(d);
    return n;
}

/* The whole group-level step: features TSV + participants.tsv -> reports
 * and a saved head; a failing run leaves no file behind. */
static void test_run(void)
{
    enum { N = 30, D = 3 };
    bs_rng *rng = bs_rng_new(21);
    FILE *fp = fopen(in_dir("features.tsv"), "w"), *pp = fopen(in_dir("participants.tsv"), "w");
    fputs("participant_id\tf0\tf1\tf2\n", fp);
    fputs("participant_id\tgroup\tage\n", pp);
    for (int i = 0; i < N; i++) {
        int g = i % 2;
        fprintf(fp, "sub-%02d\t%.6f\t%.6f\t%.6f\n", i, bs_rng_gaussian(rng, 1) + 3 * g, bs_rng_gaussian(rng, 1),
                bs_rng_gaussian(rng, 1));
        fprintf(pp, "sub-%02d\t%s\t%d\n", i, g ? "patient" : "control", 20 + i);
    }
    fclose(fp);
    fclose(pp);
    bs_eval_run_options o;
    memset(&o, 0, sizeof o);
    char feat[512], part[512]; /* in_dir() recycles its buffers */
    snprintf(feat, sizeof feat, "%s", in_dir("features.tsv"));
    snprintf(part, sizeof part, "%s", in_dir("participants.tsv"));
    o.features = feat;
    o.participants = part;
    o.column = "group";
    bs_eval_config_default(&o.eval, BS_HEAD_LOGREG);
    char prefix[512], head[512];
    snprintf(prefix, sizeof prefix, "%s", in_dir("group_head-logreg"));
    snprintf(head, sizeof head, "%s", in_dir("head.safetensors"));
    o.out_prefix = prefix;
    o.save_head = head;
    bs_error err = {0};
    bs_eval_result r;
    int before = count_files();
    int rc = bs_eval_run(&o, &r, &err);
    CHECK(rc == BS_OK && r.mean[0] > 0.8, "bs_eval_run: %s", err.message);
    CHECK(count_files() == before + 4 && access(in_dir("group_head-logreg_metrics.tsv"), R_OK) == 0 &&
              access(in_dir("group_head-logreg_metrics.json"), R_OK) == 0 &&
              access(in_dir("group_head-logreg_predictions.tsv"), R_OK) == 0 && access(head, R_OK) == 0,
          "bs_eval_run did not write metrics TSV/JSON, predictions and the head");
    printf("ok   bs_eval_run: metrics TSV + JSON, predictions, head written (acc %.3f)\n", r.mean[0]);
    bs_eval_result_free(&r);
    for (const char *const *f = (const char *const[]){"group_head-logreg_metrics.tsv", "group_head-logreg_metrics.json",
                                                        "group_head-logreg_predictions.tsv", "head.safetensors", NULL};
         *f; f++)
        unlink(in_dir(*f));
    before = count_files();
    o.column = "diagnosis";
    rc = bs_eval_run(&o, NULL, &err);
    CHECK(rc == BS_ERR_DATA && count_files() == before, "failing run wrote files or passed");
    o.column = "group";
    o.eval.folds = 20; /* 15 per class < 20 folds */
    rc = bs_eval_run(&o, NULL, &err);
    CHECK(rc == BS_ERR_DATA && count_files() == before, "failing run wrote files or passed");
    printf("ok   failing bs_eval_run writes nothing: %s\n", err.message);
    o.eval.folds = 5;
    o.column = "age";
    o.eval.head.kind = BS_HEAD_RIDGE;
    bs_head_params_default(&o.eval.head, BS_HEAD_RIDGE);
    rc = bs_eval_run(&o, &r, &err);
    CHECK(rc == BS_OK && r.n_metrics == 3, "ridge run: %s", err.message);
    printf("ok   bs_eval_run ridge on age: MAE %.2f\n", r.mean[0]);
    bs_eval_result_free(&r);
    bs_rng_free(rng);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' || strlen(e->d_name) > 2)
            unlink(in_dir(e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_stratified();
    test_fewshot();
    test_labels();
    test_features();
    test_evaluate();
    test_run();
    cleanup();
    if (failures)
        printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
