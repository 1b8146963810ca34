/* tests/test_brainmae_train.c - BrainMAE pretraining plumbing: checkpoint
 * round trip (config in __metadata__), exact resume with dropout (train 4
 * epochs straight == 2 epochs, checkpoint, resume to 4), dropout semantics
 * (training forward deterministic per seed, evaluation forward and rate 0
 * untouched by it), inference shapes, and the bad-input cases: missing TR,
 * TR inconsistent with the model and across the cohort, run shorter than one
 * window and than one sample, NaN and constant ROI columns (masked out), a
 * volume NaN in every ROI, wrong ROI count. */
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
    c->dropout = 0.2f;
}

/* Training forward, evaluation forward and rate 0 on one batch. */
static void check_dropout(const bs_brainmae_config *cfg, const bs_brainmae_prepared *p)
{
    bs_error err = {0};
    bs_brainmae_config c0 = *cfg;
    c0.dropout = 0;
    bs_brainmae *m = bs_brainmae_new(cfg, 3, &err), *z = bs_brainmae_new(&c0, 3, &err);
    const int S = cfg->n_segments;
    const size_t per = (size_t)S * R, nx = per * cfg->seg_len;
    uint8_t mask[3 * R];
    bs_rng *rng = bs_rng_new(4);
    bs_brainmae_draw_mask(rng, S, R, p->valid, 0.5, mask);
    bs_rng_free(rng);
    float l1, l2, l3, e1, e0, t0;
    float *r1 = malloc(sizeof(float) * nx);
    EXPECT(bs_brainmae_forward_train(m, 1, p->seg, mask, p->valid, 11, &l1, &err) == BS_OK,
           "train forward: %s", err.message);
    memcpy(r1, bs_brainmae_recon(m), sizeof(float) * nx);
    bs_brainmae_forward_train(m, 1, p->seg, mask, p->valid, 11, &l2, &err);
    EXPECT(l1 == l2 && memcmp(r1, bs_brainmae_recon(m), sizeof(float) * nx) == 0,
           "same seed, same masks: %g vs %g", l1, l2);
    bs_brainmae_forward_train(m, 1, p->seg, mask, p->valid, 12, &l3, &err);
    EXPECT(l3 != l1, "another seed must draw other masks (loss %g both)", l1);
    /* evaluation never drops: same as the rate-0 model with the same weights */
    bs_brainmae_forward(m, 1, p->seg, mask, p->valid, &e1, &err);
    memcpy(r1, bs_brainmae_recon(m), sizeof(float) * nx);
    bs_brainmae_forward(z, 1, p->seg, mask, p->valid, &e0, &err);
    EXPECT(e1 == e0 && memcmp(r1, bs_brainmae_recon(z), sizeof(float) * nx) == 0,
           "evaluation forward must ignore dropout (%g vs %g)", e1, e0);
    EXPECT(e1 != l1, "training forward with dropout 0.2 equals evaluation (%g)", e1);
    /* rate 0 in training reproduces the evaluation forward exactly */
    bs_brainmae_forward_train(z, 1, p->seg, mask, p->valid, 11, &t0, &err);
    EXPECT(t0 == e0 && memcmp(r1, bs_brainmae_recon(z), sizeof(float) * nx) == 0,
           "dropout 0 training forward differs from evaluation (%g vs %g)", t0, e0);
    printf("dropout 0.2: training loss %.6f (seed 11) %.6f (seed 12), evaluation %.6f\n", l1, l3,
           e1);
    free(r1);
    bs_brainmae_free(m);
    bs_brainmae_free(z);
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
               strstr(err.message, "shorter than one BrainMAE sample"),
           "short run: %s", err.message);
    s.n_time = 4; /* 8 s: not even one 10 s window */
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA &&
               strstr(err.message, "shorter than one BrainMAE window") &&
               strstr(err.message, "sub-x"),
           "run shorter than one window: %s", err.message);
    printf("run of 4 volumes: %s\n", err.message);
    s.n_time = T;
    float *censored = malloc(sizeof(float) * T * R);
    memcpy(censored, ts, sizeof(float) * T * R);
    for (int r = 0; r < R; r++) censored[17 * R + r] = NAN;
    s.ts = censored;
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA &&
               strstr(err.message, "volume 17"),
           "NaN volume: %s", err.message);
    s.ts = ts;
    free(censored);
    s.n_time = T;
    s.n_rois = R - 1;
    EXPECT(bs_brainmae_prepare(&cfg, &s, &bad, &err) == BS_ERR_DATA && strstr(err.message, "ROIs"),
           "ROI count: %s", err.message);

    /* TR inconsistent across the cohort although each rounds to 5-sample windows */
    {
        bs_brainmae_subject s2 = {ts, T, R, 2.1, "sub-tr21"};
        bs_brainmae_prepared two[2];
        two[0] = subs[0];
        EXPECT(bs_brainmae_prepare(&cfg, &s2, &two[1], &err) == BS_OK, "TR 2.1: %s", err.message);
        bs_brainmae *m = bs_brainmae_new(&cfg, 5, &err);
        bs_brainmae_train_options o1;
        bs_brainmae_train_defaults(&o1);
        o1.epochs = 1;
        o1.quiet = 1;
        EXPECT(bs_brainmae_pretrain(m, two, 2, &o1, NULL, &err) == BS_ERR_DATA &&
                   strstr(err.message, "sub-tr21") && strstr(err.message, "TR"),
               "cohort TR mismatch: %s", err.message);
        printf("cohort with TR 2 and 2.1 s: %s\n", err.message);
        bs_brainmae_prepared_free(&two[1]);
        bs_brainmae_free(m);
    }

    check_dropout(&cfg, &subs[0]);

    /* exact resume (with dropout: masks from the seed and the step count) */
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
    printf("resume (dropout 0.2): %zu parameters identical after 2+2 vs 4 epochs\n", n);
    /* the masks took effect in pretraining: the same run without dropout differs */
    {
        bs_brainmae_config c0 = cfg;
        c0.dropout = 0;
        bs_brainmae *z = bs_brainmae_new(&c0, 5, &err);
        bs_brainmae_train_options oz = o;
        oz.checkpoint = NULL;
        oz.resume = 0;
        EXPECT(bs_brainmae_pretrain(z, subs, N_SUB, &oz, NULL, &err) == BS_OK, "rate 0: %s",
               err.message);
        size_t same = 0;
        for (size_t i = 0; i < n; i++) same += bs_brainmae_params(z)[i] == bs_brainmae_params(a)[i];
        EXPECT(same < n / 2, "pretraining with and without dropout agree in %zu of %zu", same, n);
        bs_brainmae_free(z);
    }

    /* load for inference: config from metadata, weights equal */
    bs_brainmae *c = bs_brainmae_load(ck1, &err);
    EXPECT(c != NULL, "load: %s", err.message);
    if (c) {
        const bs_brainmae_config *cc = bs_brainmae_get_config(c);
        EXPECT(cc->encoder == BS_BRAINMAE_AG && cc->d_model == 16 && cc->window_s == 10 &&
                   cc->dropout == 0.2f,
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
