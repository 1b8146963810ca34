/* bench_nn.c - times nn core ops for bench/nn/bench_nn.py.
 *
 * Usage: bench_nn linear N IN OUT REPS
 *        bench_nn mha B T C H REPS
 *        bench_nn attn B T C H REPS   (attention core on packed qkv only)
 * Prints one line "fwd_ms=<median> fwdbwd_ms=<median>" (forward alone, and
 * forward + backward), medians over REPS after one warm-up run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brainstage/nn.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static float *rnd(size_t n, bs_rng *rng)
{
    float *v = bs_alloc_floats(n);
    nn_init_uniform(v, n, -1, 1, rng);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_nn linear N IN OUT REPS | mha|attn B T C H REPS\n");
        return 2;
    }
    bs_rng *rng = bs_rng_new(1);
    double fwd[64], all[64];
    if (strcmp(argv[1], "linear") == 0 && argc == 6) {
        int N = atoi(argv[2]), in = atoi(argv[3]), out = atoi(argv[4]), reps = atoi(argv[5]);
        if (reps > 63)
            reps = 63;
        float *x = rnd((size_t)N * in, rng), *w = rnd((size_t)in * out, rng), *b = rnd((size_t)out, rng);
        float *y = bs_alloc_floats((size_t)N * out), *dy = rnd((size_t)N * out, rng);
        float *dx = bs_alloc_floats((size_t)N * in), *dw = bs_alloc_floats((size_t)in * out);
        float *db = bs_alloc_floats((size_t)out);
        for (int r = -1; r < reps; r++) {
            double t0 = now_ms();
            nn_linear_forward(y, x, w, b, N, in, out);
            double t1 = now_ms();
            nn_linear_backward(dx, dw, db, dy, x, w, N, in, out);
            double t2 = now_ms();
            if (r >= 0) {
                fwd[r] = t1 - t0;
                all[r] = t2 - t0;
            }
        }
        printf("fwd_ms=%.4f fwdbwd_ms=%.4f\n", median(fwd, reps), median(all, reps));
    } else if (strcmp(argv[1], "mha") == 0 && argc == 7) {
        int B = atoi(argv[2]), T = atoi(argv[3]), C = atoi(argv[4]), H = atoi(argv[5]), reps = atoi(argv[6]);
        if (reps > 63)
            reps = 63;
        size_t BT = (size_t)B * T, att_n = (size_t)B * H * T * T;
        float *x = rnd(BT * C, rng), *in_w = rnd((size_t)3 * C * C, rng), *in_b = rnd((size_t)3 * C, rng);
        float *out_w = rnd((size_t)C * C, rng), *out_b = rnd((size_t)C, rng), *dy = rnd(BT * C, rng);
        float *y = bs_alloc_floats(BT * C), *qkv = bs_alloc_floats(BT * 3 * C), *ctx = bs_alloc_floats(BT * C);
        float *att = bs_alloc_floats(att_n), *dqkv = bs_alloc_floats(BT * 3 * C), *dctx = bs_alloc_floats(BT * C);
        float *dx = bs_alloc_floats(BT * C), *din_w = bs_alloc_floats((size_t)3 * C * C);
        float *din_b = bs_alloc_floats((size_t)3 * C), *dout_w = bs_alloc_floats((size_t)C * C);
        float *dout_b = bs_alloc_floats((size_t)C);
        for (int r = -1; r < reps; r++) {
            double t0 = now_ms();
            nn_mha_forward(y, qkv, ctx, att, NULL, x, in_w, in_b, out_w, out_b, B, T, C, H, NULL);
            double t1 = now_ms();
            nn_mha_backward(dx, din_w, din_b, dout_w, dout_b, dqkv, dctx, dy, x, qkv, ctx, att, NULL, in_w,
                            out_w, B, T, C, H, NULL);
            double t2 = now_ms();
            if (r >= 0) {
                fwd[r] = t1 - t0;
                all[r] = t2 - t0;
            }
        }
        printf("fwd_ms=%.4f fwdbwd_ms=%.4f\n", median(fwd, reps), median(all, reps));
    } else if (strcmp(argv[1], "attn") == 0 && argc == 7) {
        int B = atoi(argv[2]), T = atoi(argv[3]), C = atoi(argv[4]), H = atoi(argv[5]), reps = atoi(argv[6]);
        if (reps > 63)
            reps = 63;
        size_t BT = (size_t)B * T;
        float *qkv = rnd(BT * 3 * C, rng), *dout = rnd(BT * C, rng), *out = bs_alloc_floats(BT * C);
        float *att = bs_alloc_floats((size_t)B * H * T * T), *dqkv = bs_alloc_floats(BT * 3 * C);
        nn_attn_dims d = nn_attn_dims_packed(B, T, H, C / H);
        for (int r = -1; r < reps; r++) {
            double t0 = now_ms();
            nn_attention_forward(out, att, NULL, qkv, qkv + C, qkv + 2 * C, &d);
            double t1 = now_ms();
            nn_attention_backward(dqkv, dqkv + C, dqkv + 2 * C, dout, att, NULL, qkv, qkv + C, qkv + 2 * C, &d);
            double t2 = now_ms();
            if (r >= 0) {
                fwd[r] = t1 - t0;
                all[r] = t2 - t0;
            }
        }
        printf("fwd_ms=%.4f fwdbwd_ms=%.4f\n", median(fwd, reps), median(all, reps));
    } else {
        fprintf(stderr, "bench_nn: bad arguments\n");
        return 2;
    }
    bs_rng_free(rng);
    return 0;
}
