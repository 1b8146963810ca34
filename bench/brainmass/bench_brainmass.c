/* bench/brainmass/bench_brainmass.c - times the C BrainMass training step and
 * eval-mode inference for one configuration; prints one JSON line.
 *   bench_brainmass ROIS DEPTH HEADS FFN FEATURE BATCH TRAIN_ITERS INFER_ITERS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "brainstage/brainmass.h"
#include "brainstage/rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* CPU time of the whole process (all threads): on a loaded machine it moves
 * much less than wall time (run with OMP_WAIT_POLICY=passive so that idle
 * threads do not spin). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: %s ROIS DEPTH HEADS FFN FEATURE BATCH TRAIN_ITERS INFER_ITERS\n", argv[0]);
        return 2;
    }
    bs_brainmass_config c;
    bs_brainmass_config_default(&c);
    c.rois = atoi(argv[1]);
    c.depth = atoi(argv[2]);
    c.heads = atoi(argv[3]);
    c.ffn = atoi(argv[4]);
    c.feature_dim = atoi(argv[5]);
    int B = atoi(argv[6]), train_iters = atoi(argv[7]), infer_iters = atoi(argv[8]);
    if (c.nce_mask > c.rois) c.nce_mask = c.rois;
    if (c.mrm_mask > c.rois) c.mrm_mask = c.rois;
    bs_error e = {0};
    bs_brainmass *m = bs_brainmass_new(&c, 1, &e);
    if (!m) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    size_t n = (size_t)B * c.rois * c.rois;
    float *v1 = malloc(n * sizeof(float)), *v2 = malloc(n * sizeof(float));
    float *emb = malloc((size_t)B * bs_brainmass_embed_dim(m) * sizeof(float));
    bs_rng *rng = bs_rng_new(7);
    for (size_t i = 0; i < n; i++) {
        v1[i] = (float)bs_rng_gaussian(rng, 0.3);
        v2[i] = (float)bs_rng_gaussian(rng, 0.3);
    }
    bs_brainmass_losses L;
    /* warm-up: one of each that is timed (allocates the workspace) */
    L.total = 0.0;
    if ((train_iters > 0 && bs_brainmass_compute_grads(m, v1, v2, B, NULL, NULL, &L, &e)) ||
        (infer_iters > 0 && bs_brainmass_embed(m, v1, B, emb, &e))) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    if (train_iters > 0)
        bs_brainmass_apply_update(m, 1e-4, 5e-5, 1.0);
    double t0 = now(), c0 = cpu_now();
    for (int i = 0; i < train_iters; i++) {
        bs_brainmass_compute_grads(m, v1, v2, B, NULL, NULL, &L, &e);
        bs_brainmass_apply_update(m, 1e-4, 5e-5, 1.0);
    }
    const int nt = train_iters > 0 ? train_iters : 1, ni = infer_iters > 0 ? infer_iters : 1;
    double t_train = (now() - t0) / nt, c_train = (cpu_now() - c0) / nt;
    t0 = now();
    c0 = cpu_now();
    for (int i = 0; i < infer_iters; i++)
        bs_brainmass_embed(m, v1, B, emb, &e);
    double t_infer = (now() - t0) / ni, c_infer = (cpu_now() - c0) / ni;
    printf("{\"train_step_s\": %.6f, \"infer_batch_s\": %.6f, \"train_cpu_s\": %.6f, "
           "\"infer_cpu_s\": %.6f, \"loss\": %.6f}\n", t_train, t_infer, c_train, c_infer, L.total);
    free(v1);
    free(v2);
    free(emb);
    bs_rng_free(rng);
    bs_brainmass_free(m);
    return 0;
}
