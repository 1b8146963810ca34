/* test_pfc_tool.c - helper for tests/pfc_golden.py and bench/pfc:
 *   test_pfc_tool IN.f32 T R N KEEP_MIN KEEP_MAX MODE FISHER SEED THREADS OUT_PREFIX [REPEAT]
 * reads a raw little-endian float32 T x R series, writes OUT_PREFIX.pfc
 * (N x R x R float32) and OUT_PREFIX.kept (per sample: int32 count, then
 * the kept indices).  With REPEAT > 0 it instead times REPEAT batches of N
 * and prints "seconds <s> samples <n>" (no output files).
 *   test_pfc_tool sgemm N THREADS
 * times an N x N x N sgemm and prints "gflops <g>" (the benchmark's peak). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "brainstage/pfc.h"
#include "brainstage/tensor.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int time_sgemm(int n, int threads)
{
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(threads);
#endif
    float *a = bs_alloc_floats((size_t)n * n), *b = bs_alloc_floats((size_t)n * n), *c = bs_alloc_floats((size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.2f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("gflops %.2f\n", 2.0 * n * n * (double)n / best * 1e-9);
    bs_free(a);
    bs_free(b);
    bs_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sgemm") == 0)
        return time_sgemm(atoi(argv[2]), atoi(argv[3]));
    if (argc < 12) {
        fprintf(stderr, "usage: %s IN T R N KEEP_MIN KEEP_MAX MODE FISHER SEED THREADS OUT [REPEAT]\n", argv[0]);
        return 2;
    }
    long long T = atoll(argv[2]), R = atoll(argv[3]), N = atoll(argv[4]);
    bs_pfc_options o;
    bs_pfc_options_default(&o);
    o.keep_min = atof(argv[5]);
    o.keep_max = atof(argv[6]);
    o.mode = strcmp(argv[7], "block") == 0 ? BS_PFC_BLOCK : BS_PFC_INDIVIDUAL;
    o.fisher = atoi(argv[8]);
    o.seed = strtoull(argv[9], NULL, 10);
    o.threads = atoi(argv[10]);
    int repeat = argc > 12 ? atoi(argv[12]) : 0;
    float *x = bs_alloc_floats((size_t)(T * R));
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof(float), (size_t)(T * R), f) != (size_t)(T * R)) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    bs_error err = {0};
    bs_pfc_generator *g = bs_pfc_generator_new(x, T, R, &o, argv[1], &err);
    if (!g) {
        fprintf(stderr, "error: %s\n", err.message);
        return err.code;
    }
    float *out = bs_alloc_floats((size_t)(N * R * R));
    if (repeat > 0) {
        if (bs_pfc_next_batch(g, N, out, &err) != 0) { /* warm-up */
            fprintf(stderr, "error: %s\n", err.message);
            return err.code;
        }
        double t0 = now();
        for (int i = 0; i < repeat; i++)
            bs_pfc_next_batch(g, N, out, &err);
        printf("seconds %.6f samples %lld\n", now() - t0, (long long)N * repeat);
        return 0;
    }
    if (bs_pfc_next_batch(g, N, out, &err) != 0) {
        fprintf(stderr, "error: %s\n", err.message);
        return err.code;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.pfc", argv[11]);
    f = fopen(path, "wb");
    fwrite(out, sizeof(float), (size_t)(N * R * R), f);
    fclose(f);
    snprintf(path, sizeof path, "%s.kept", argv[11]);
    f = fopen(path, "wb");
    int32_t *kept = malloc((size_t)T * sizeof *kept);
    for (long long i = 0; i < N; i++) {
        int32_t n;
        if (bs_pfc_kept_indices(g, i, kept, &n, &err) != 0) {
            fprintf(stderr, "error: %s\n", err.message);
            return err.code;
        }
        fwrite(&n, sizeof n, 1, f);
        fwrite(kept, sizeof *kept, (size_t)n, f);
    }
    fclose(f);
    free(kept);
    bs_free(out);
    bs_free(x);
    bs_pfc_generator_free(g);
    return 0;
}
