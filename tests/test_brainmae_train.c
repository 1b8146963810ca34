/* tests/test_brainmae_train.c - BrainMAE pretraining plumbing: checkpoint
 * round trip (config in __metadata__), exact resume (train 4 epochs straight
 * == 2 epochs, checkpoint, resume to 4), inference shapes, and the bad-input
 * cases: missing TR, TR inconsistent with the model, run shorter than one
 * sample, NaN and constant ROI columns (masked out), wrong ROI count. */
#include "brainstage/brainmae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { R = 8, N_SUB = 6 };
static const double TR = 2.0;
static const int64_t T = 60;

static int failures;
#define EXPECT(cond, ...)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            fprintf(stderr, "FAIL line %d: ", __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                      \
            fprintf(stderr, "\n");                             \
            failures++;                                        \
        }                                                      \
    } while (0)

static void config(bs_brainmae_config *c, int seg_len)
{
    bs_brainmae_config_default(c, R, seg_len, 3);
    c->d_model = 16;
    c->d_key = 8;
    c->d_ffn = 32;
    c->n_heads = 2;
    c->encoder = BS_BRAINMAE_AG;
    c->n_temporal = 1;
    c->n_decoder = 1;
    c->window_s = 10;
}

int main(void)
{
    bs_error err = {0};
    char dir[] = "/tmp/brainmae_train_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char ck1[256], ck2[256];
    snprintf(ck1, sizeof ck1, "%s/a.safetensors", dir);
    snprintf(ck2, sizeof ck2, "%s/b.safetensors", dir);

    int seg_len = 0;
    EXPECT(bs_brainmae_seg_len(10, TR, &seg_len, &err) == BS_OK && seg_len == 5, "seg_len %d", seg_len);
    EXPECT(bs_brainmae_seg_len(15, 0.72, &seg_len, &err) == BS_OK && seg_len == 21,
           "15 s at TR 0.72 -> %d", seg_len);
    EXPECT(bs_brainmae_seg_len(10, 0, &seg_len, &err) == BS_ERR_DATA && strstr(err.message, "TR"),
           "missing TR: %s", err.message);
    bs_brainmae_config cfg;
    config(&cfg, 5);

    bs_brainmae_sim sim;
    bs_brainmae_sim_defaults(&sim, R, 2, T, TR);
    float *ts = malloc(sizeof(float) * T * R);
    bs_brainmae_prepared subs[N_SUB];
    for (int i = 0; i < N_SUB; i++) {
        bs_brainmae_simulate(&sim, i, ts, NULL, &err);
        if (i == 1) /* a low-coverage ROI: NaN column */
            for (int64_t t = 0; t < T; t++) ts[t * R + 3] = NAN;
        if (i == 2) /* an empty ROI: constant column */
            for (int64_t t = 0; t < T; t++) ts[t * R + 5] = 0;
        bs_brainmae_subject s = {ts, T, R, TR, "sub"};
        EXPECT(bs_brainmae_prepare(&cfg, &s, &subs[i], &err) == BS_OK, "prepare: %s", err.message);
    }
    EXPECT(subs[1].n_valid == R - 1 && !subs[1].valid[3], "NaN ROI not masked out");
    EXPECT(subs[2].n_valid == R - 1 && !subs[2].valid[5], "constant ROI not masked out");
    EXPECT(subs[0].n_seg == 12, "n_seg %d", subs[0].n_seg);

    /* bad input */
    bs_brainmae_prepared bad;
    bs_brainmae_subject s = {ts, T, R, 0.0, "sub-x"};
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA && strstr(err.message, "TR"),
           "missing TR: %s", err.message);
    s.tr = 0.8;
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA &&
               strstr(err.message, "samples per"),
           "inconsistent TR: %s", err.message);
    s.tr = TR;
    s.n_time = 14;
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA &&
               strstr(err.message, "shorter than one"),
           "short run: %s", err.message);
    s.n_time = T;
    s.n_rois = R - 1;
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA && strstr(err.message, "ROIs"),
           "ROI count: %s", err.message);

    /* exact resume */
    bs_brainmae_train_options o;
    bs_brainmae_train_defaults(&o);
    o.epochs = 4;
    o.batch = 4;
    o.quiet = 1;
    o.checkpoint = ck1;
    o.checkpoint_every = 2;
    bs_brainmae_train_report rep;
    bs_brainmae *a = bs_brainmae_new(&cfg, 5, &err);
    EXPECT(bs_brainmae_pretrain(a, subs, N_SUB, &o, &rep, &err) == BS_OK, "pretrain: %s", err.message);
    EXPECT(rep.epochs_done == 4 && isfinite(rep.last_loss), "report");

    bs_brainmae *b = bs_brainmae_new(&cfg, 5, &err);
    o.checkpoint = ck2;
    o.epochs = 2;
    EXPECT(bs_brainmae_pretrain(b, subs, N_SUB, &o, &rep, &err) == BS_OK, "pretrain 2: %s", err.message);
    bs_brainmae_free(b);
    b = bs_brainmae_new(&cfg, 99, &err); /* different init: everything must come from the file */
    o.epochs = 4;
    o.resume = 1;
    EXPECT(bs_brainmae_pretrain(b, subs, N_SUB, &o, &rep, &err) == BS_OK, "resume: %s", err.message);
    EXPECT(bs_brainmae_step_count(b) == bs_brainmae_step_count(a), "steps %lld vs %lld",
           (long long)bs_brainmae_step_count(b), (long long)bs_brainmae_step_count(a));
    size_t n = bs_brainmae_num_params(a), diff = 0;
    for (size_t i = 0; i < n; i++) diff += bs_brainmae_params(a)[i] != bs_brainmae_params(b)[i];
    EXPECT(diff == 0, "resumed run differs from the straight run in %zu of %zu values", diff, n);
    printf("resume: %zu parameters identical after 2+2 vs 4 epochs\n", n);

    /* load for inference: config from metadata, weights equal */
    bs_brainmae *c = bs_brainmae_load(ck1, &err);
    EXPECT(c != NULL, "load: %s", err.message);
    if (c) {
        const bs_brainmae_config *cc = bs_brainmae_get_config(c);
        EXPECT(cc->encoder == BS_BRAINMAE_AG && cc->d_model == 16 && cc->window_s == 10,
               "config round trip");
        EXPECT(memcmp(bs_brainmae_params(c), bs_brainmae_params(a), n * sizeof(float)) == 0,
               "weights round trip");
        bs_brainmae_inference inf;
        EXPECT(bs_brainmae_infer(c, &subs[1], 0.7, 3, &inf, &err) == BS_OK, "infer: %s", err.message);
        EXPECT(inf.n_samples == 4 && isfinite(inf.masked_mse), "inference: %d samples, mse %g",
               inf.n_samples, inf.masked_mse);
        int masked_invalid = 0, finite = 1;
        for (int i = 0; i < inf.n_samples * 3; i++) masked_invalid += inf.mask[i * R + 3];
        for (int i = 0; i < inf.d_model; i++) finite &= isfinite(inf.subject_embed[i]);
        EXPECT(masked_invalid == 0 && finite, "invalid ROI must not be drawn into the mask");
        bs_brainmae_inference_free(&inf);
        float alpha[R * R], score[R];
        EXPECT(bs_brainmae_adjacency(c, 0, alpha, &err) == BS_OK && alpha[0] == 0, "alpha");
        EXPECT(bs_brainmae_adjacency(c, 1, alpha, &err) == BS_ERR_USAGE, "AG block 1 is not region-aware");
        EXPECT(bs_brainmae_roi_attention(c, 0, score, &err) == BS_OK, "roi attention");
        bs_brainmae_free(c);
    }
    /* resume from a weights-only file is refused */
    EXPECT(bs_brainmae_save(a, ck2, 0, &err) == BS_OK, "save: %s", err.message);
    EXPECT(bs_brainmae_pretrain(b, subs, N_SUB, &o, &rep, &err) == BS_ERR_DATA &&
               strstr(err.message, "optimizer"),
           "resume without optimizer state: %s", err.message);

    for (int i = 0; i < N_SUB; i++) bs_brainmae_prepared_free(&subs[i]);
    bs_brainmae_free(a);
    bs_brainmae_free(b);
    free(ts);
    unlink(ck1);
    unlink(ck2);
    rmdir(dir);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
