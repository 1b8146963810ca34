/* bench/brainmae/bench_brainmae.c - times BrainMAE training steps (forward
 * with dropout, backward, AdamW) in C for bench/brainmae/bench.py, which
 * times the PyTorch peer on the same config in the same run.
 * usage: bench_brainmae R TAU S D DK FFN HEADS ENC(sg|ag) NENC NTMP NDEC BATCH DROPOUT STEPS
 * Prints wall ms per step (mean, best) and process CPU ms per step (all
 * threads; less sensitive to other jobs on a shared machine). */
#include "brainstage/brainmae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 15) {
        fprintf(stderr, "usage: %s R TAU S D DK FFN HEADS sg|ag NENC NTMP NDEC BATCH DROPOUT STEPS\n",
                argv[0]);
        return 2;
    }
    bs_brainmae_config c;
    bs_brainmae_config_default(&c, atoi(argv[1]), atoi(argv[2]), atoi(argv[3]));
    c.d_model = atoi(argv[4]);
    c.d_key = atoi(argv[5]);
    c.d_ffn = atoi(argv[6]);
    c.n_heads = atoi(argv[7]);
    c.encoder = strcmp(argv[8], "ag") == 0 ? BS_BRAINMAE_AG : BS_BRAINMAE_SG;
    c.n_encoder = atoi(argv[9]);
    c.n_temporal = atoi(argv[10]);
    c.n_decoder = atoi(argv[11]);
    c.dropout = (float)atof(argv[13]);
    const int B = atoi(argv[12]), steps = atoi(argv[14]);
    bs_error err = {0};
    bs_brainmae *m = bs_brainmae_new(&c, 1, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const size_t per = (size_t)c.n_segments * c.n_rois;
    float *x = malloc(sizeof(float) * per * c.seg_len * B);
    uint8_t *mask = malloc(per * B);
    bs_rng *rng = bs_rng_new(1);
    for (size_t i = 0; i < per * c.seg_len * B; i++) x[i] = (float)bs_rng_gaussian(rng, 1.0);
    bs_brainmae_draw_mask(rng, c.n_segments * B, c.n_rois, NULL, 0.7, mask);
    bs_adamw opt;
    bs_adamw_defaults(&opt);
    double best = 1e30, total = 0, cpu = 0;
    float loss = 0;
    for (int s = 0; s <= steps; s++) { /* step 0 = warm-up (allocation) */
        const double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        bs_brainmae_zero_grad(m);
        if (bs_brainmae_forward_train(m, B, x, mask, NULL, (uint64_t)s, &loss, &err) ||
            bs_brainmae_backward(m, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        bs_brainmae_adamw_step(m, &opt);
        const double dt = now(CLOCK_MONOTONIC) - t0;
        if (s > 0) {
            total += dt;
            cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (dt < best) best = dt;
        }
    }
    size_t n_params = 0;
    for (int i = 0; i < bs_brainmae_param_count(m); i++) n_params += bs_brainmae_param_info(m, i)->numel;
    printf("c_params %zu\nc_ms_mean %.3f\nc_ms_best %.3f\nc_cpu_ms %.3f\nc_loss %.6f\n", n_params,
           1e3 * total / steps, 1e3 * best, 1e3 * cpu / steps, loss);
    bs_rng_free(rng);
    free(x);
    free(mask);
    bs_brainmae_free(m);
    return 0;
}
