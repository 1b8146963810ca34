/* test_pfc.c - pFC generator: determinism (thread count, batch split,
 * random access), kept-set properties, bad input errors, degenerate and
 * constant ROIs, and the streaming safetensors output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/pfc.h"
#include "brainstage/rng.h"
#include "brainstage/safetensors.h"
#include "brainstage/tensor.h"

static int failures;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static float *make_series(int64_t T, int64_t R, uint64_t seed)
{
    float *x = bs_alloc_floats((size_t)(T * R));
    bs_rng *rng = bs_rng_new(seed);
    for (int64_t t = 0; t < T; t++) {
        double common = bs_rng_gaussian(rng, 1.0);
        for (int64_t j = 0; j < R; j++)
            x[t * R + j] = (float)(100.0 + (j % 3) * common + bs_rng_gaussian(rng, 1.0));
    }
    bs_rng_free(rng);
    return x;
}

static void test_determinism(void)
{
    const int64_t T = 150, R = 40, N = 24;
    float *x = make_series(T, R, 1);
    bs_pfc_options o;
    bs_pfc_options_default(&o);
    o.keep_min = 0.4;
    o.keep_max = 0.9;
    o.seed = 99;
    bs_error err = {0};
    float *a = bs_alloc_floats((size_t)(N * R * R)), *b = bs_alloc_floats((size_t)(N * R * R));
    for (int mode = 0; mode < 2; mode++) {
        o.mode = mode ? BS_PFC_BLOCK : BS_PFC_INDIVIDUAL;
        o.threads = 1;
        bs_pfc_generator *g1 = bs_pfc_generator_new(x, T, R, &o, "x", &err);
        o.threads = 2;
        bs_pfc_generator *g2 = bs_pfc_generator_new(x, T, R, &o, "x", &err);
        CHECK(g1 && g2, "%s", err.message);
        if (!g1 || !g2)
            return;
        CHECK(bs_pfc_next_batch(g1, N, a, &err) == BS_OK, "%s", err.message);
        /* Different thread count AND different batch split. */
        CHECK(bs_pfc_next_batch(g2, 7, b, &err) == BS_OK, "%s", err.message);
        CHECK(bs_pfc_next_batch(g2, N - 7, b + 7 * R * R, &err) == BS_OK, "%s", err.message);
        CHECK(bs_pfc_tell(g2) == N, "position %lld", (long long)bs_pfc_tell(g2));
        CHECK(memcmp(a, b, (size_t)(N * R * R) * sizeof(float)) == 0,
              "mode %d: results depend on thread count or batch split", mode);
        /* Random access: sample 13 alone. */
        CHECK(bs_pfc_compute(g2, 13, 1, b, &err) == BS_OK, "%s", err.message);
        CHECK(memcmp(a + 13 * R * R, b, (size_t)(R * R) * sizeof(float)) == 0, "random access differs");
        /* Symmetry, unit diagonal, range. */
        int ok = 1;
        for (int64_t n = 0; n < N && ok; n++)
            for (int64_t i = 0; i < R && ok; i++) {
                ok = a[n * R * R + i * R + i] == 1.0f;
                for (int64_t j = 0; j < R && ok; j++)
                    ok = a[n * R * R + i * R + j] == a[n * R * R + j * R + i] && fabsf(a[n * R * R + i * R + j]) <= 1.0f;
            }
        CHECK(ok, "mode %d: not a symmetric correlation matrix with unit diagonal", mode);
        /* Samples differ from each other; a new seed changes them. */
        CHECK(memcmp(a, a + R * R, (size_t)(R * R) * sizeof(float)) != 0, "samples 0 and 1 identical");
        bs_pfc_set_seed(g2, 100);
        CHECK(bs_pfc_tell(g2) == 0, "set_seed must rewind");
        CHECK(bs_pfc_next_batch(g2, 1, b, &err) == BS_OK && memcmp(a, b, (size_t)(R * R) * sizeof(float)) != 0,
              "seed change had no effect");
        /* Kept sets: sorted, sized by the fraction range, contiguous in block mode. */
        int32_t kept[150], n_kept;
        for (int64_t n = 0; n < N; n++) {
            CHECK(bs_pfc_kept_indices(g1, n, kept, &n_kept, &err) == BS_OK, "%s", err.message);
            CHECK(n_kept >= (int32_t)llround(0.4 * T) && n_kept <= (int32_t)llround(0.9 * T), "kept count %d",
                  n_kept);
            for (int32_t r = 1; r < n_kept; r++)
                CHECK(kept[r] > kept[r - 1], "kept not ascending");
            if (mode)
                CHECK(kept[n_kept - 1] - kept[0] == n_kept - 1, "block not contiguous");
        }
        bs_pfc_generator_free(g1);
        bs_pfc_generator_free(g2);
    }
    bs_free(a);
    bs_free(b);
    bs_free(x);
}

static void expect_error(const float *x, int64_t T, int64_t R, const bs_pfc_options *o, bs_status code,
                         const char *needle, const char *label)
{
    bs_error err = {0};
    bs_pfc_generator *g = bs_pfc_generator_new(x, T, R, o, "sub-01_timeseries.tsv", &err);
    CHECK(g == NULL, "%s: accepted", label);
    bs_pfc_generator_free(g);
    CHECK(err.code == code, "%s: status %d, expected %d: %s", label, err.code, code, err.message);
    CHECK(strstr(err.message, needle) && strstr(err.message, "sub-01_timeseries.tsv") &&
              !strchr(err.message, '\n'),
          "%s: message: %s", label, err.message);
    printf("ok  %-28s %s\n", label, err.message);
}

static void test_bad_input(void)
{
    const int64_t T = 40, R = 6;
    float *x = make_series(T, R, 2);
    bs_pfc_options o;
    bs_pfc_options_default(&o);
    x[17 * R + 4] = NAN;
    expect_error(x, T, R, &o, BS_ERR_NUMERIC, "time point 17, ROI 4: value is NaN", "NaN");
    x[17 * R + 4] = INFINITY;
    expect_error(x, T, R, &o, BS_ERR_NUMERIC, "infinite", "Inf");
    x[17 * R + 4] = 1.0f;
    o.keep_min = o.keep_max = 0.05;
    expect_error(x, T, R, &o, BS_ERR_DATA, "keeps 2", "T too small for keep");
    o.keep_min = 0.9;
    o.keep_max = 0.5;
    expect_error(x, T, R, &o, BS_ERR_USAGE, "keep_min <= keep_max", "keep range reversed");
    o.keep_min = 0.5;
    o.keep_max = 1.5;
    expect_error(x, T, R, &o, BS_ERR_USAGE, "<= 1", "keep above 1");
    bs_pfc_options_default(&o);
    expect_error(x, 2, R, &o, BS_ERR_DATA, "at least 3", "T = 2");
    for (int64_t t = 0; t < T; t++)
        x[t * R + 2] = 3.25f;
    expect_error(x, T, R, &o, BS_ERR_NUMERIC, "ROI 2 is constant", "constant ROI");

    /* constant=zero: that row and column are 0 everywhere, the rest intact. */
    o.constant_roi = BS_PFC_CONSTANT_ZERO;
    bs_error err = {0};
    bs_pfc_generator *g = bs_pfc_generator_new(x, T, R, &o, "x", &err);
    CHECK(g && bs_pfc_generator_constant_rois(g) == 1, "constant=zero: %s", err.message);
    float out[2 * 6 * 6];
    CHECK(g && bs_pfc_next_batch(g, 2, out, &err) == BS_OK, "%s", err.message);
    int ok = 1;
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < R; j++) {
            ok &= out[n * 36 + 2 * R + j] == 0.0f && out[n * 36 + j * R + 2] == 0.0f;
            ok &= j == 2 || out[n * 36 + j * R + j] == 1.0f;
            for (int i = 0; i < R; i++)
                ok &= isfinite(out[n * 36 + i * R + j]);
        }
    CHECK(ok, "constant=zero: row/column 2 not zero or other entries wrong");
    bs_pfc_generator_free(g);
    bs_free(x);
}

/* A ROI that is constant on most points: subsets that keep only its
 * constant part make it degenerate in that sample (zero row, documented),
 * never NaN. */
static void test_degenerate_subset(void)
{
    const int64_t T = 60, R = 4, N = 200;
    float *x = make_series(T, R, 3);
    for (int64_t t = 0; t < T; t++)
        x[t * R + 1] = t < 3 ? 10.0f * (float)(t + 1) : 0.5f; /* spikes at t = 0, 1, 2 only */
    bs_pfc_options o;
    bs_pfc_options_default(&o);
    o.keep_min = o.keep_max = 0.5;
    o.seed = 5;
    bs_error err = {0};
    bs_pfc_generator *g = bs_pfc_generator_new(x, T, R, &o, "x", &err);
    CHECK(g != NULL, "%s", err.message);
    float *out = bs_alloc_floats((size_t)(N * R * R));
    CHECK(bs_pfc_next_batch(g, N, out, &err) == BS_OK, "%s", err.message);
    int32_t kept[60], n_kept, degenerate = 0, bad = 0;
    for (int64_t n = 0; n < N; n++) {
        bs_pfc_kept_indices(g, n, kept, &n_kept, &err);
        int has_spike = kept[0] < 3;
        float d = out[n * R * R + 1 * R + 1];
        for (int j = 0; j < R; j++)
            bad += !isfinite(out[n * R * R + 1 * R + j]);
        if (!has_spike) {
            degenerate++;
            for (int j = 0; j < R; j++)
                bad += out[n * R * R + 1 * R + j] != 0.0f || out[n * R * R + j * R + 1] != 0.0f;
        } else {
            bad += d != 1.0f;
        }
    }
    CHECK(degenerate > 10 && bad == 0, "degenerate subsets: %d seen, %d wrong entries", degenerate, bad);
    bs_free(out);
    bs_pfc_generator_free(g);
    bs_free(x);
}

static void test_stream_file(void)
{
    const int64_t T = 80, R = 10, N = 53;
    float *x = make_series(T, R, 4);
    bs_pfc_options o;
    bs_pfc_options_default(&o);
    o.fisher = 1;
    o.seed = 11;
    bs_error err = {0};
    bs_pfc_generator *g = bs_pfc_generator_new(x, T, R, &o, "x", &err);
    char dir[] = "/tmp/test_pfc.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/pfc.safetensors", dir);
    const char *keys[] = {"entities"}, *vals[] = {"sub-01_task-rest"};
    CHECK(bs_pfc_write_safetensors(g, N, 8, path, 1, keys, vals, &err) == BS_OK, "%s", err.message);
    CHECK(bs_pfc_tell(g) == N, "write must advance the position");
    float *ref = bs_alloc_floats((size_t)(N * R * R));
    CHECK(bs_pfc_compute(g, 0, N, ref, &err) == BS_OK, "%s", err.message);
    bs_safetensors *st = bs_st_open(path, &err);
    CHECK(st != NULL, "%s", err.message);
    if (st) {
        bs_tensor *t = bs_st_read_tensor(st, "pfc", &err);
        CHECK(t && t->ndim == 3 && t->shape[0] == N && t->shape[1] == R && t->shape[2] == R, "shape");
        CHECK(t && memcmp(t->data, ref, (size_t)(N * R * R) * sizeof(float)) == 0, "file differs from memory");
        int ok = 1;
        for (int64_t i = 0; t && i < R; i++)
            ok &= t->data[i * R + i] == 0.0f; /* Fisher diagonal */
        CHECK(ok, "fisher diagonal");
        bs_tensor_free(t);
        const bs_st_info *k = bs_st_find(st, "kept");
        CHECK(k && k->dtype == BS_ST_I32 && k->shape[0] == N, "kept tensor");
        if (k)
            CHECK(((const int32_t *)bs_st_raw(st, k))[0] == (int32_t)llround(0.8 * T), "kept count");
        CHECK(bs_st_metadata(st, "entities") && strcmp(bs_st_metadata(st, "entities"), "sub-01_task-rest") == 0,
              "metadata");
        bs_st_close(st);
    }
    /* An unwritable target fails cleanly. */
    CHECK(bs_pfc_write_safetensors(g, 4, 0, "/nonexistent-dir/pfc.safetensors", 0, NULL, NULL, &err) == BS_ERR_IO,
          "bad path: %s", err.message);
    unlink(path);
    rmdir(dir);
    bs_free(ref);
    bs_pfc_generator_free(g);
    bs_free(x);
}

int main(void)
{
    test_determinism();
    test_bad_input();
    test_degenerate_subset();
    test_stream_file();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
