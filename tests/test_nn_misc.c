/* test_nn_misc.c - nn core pieces that are not ops with a gradient:
 * parameter table (alignment, slots, errors), checkpoint round trip through
 * safetensors (strict and tolerant loads, shape mismatch), EMA and copy
 * between tables, schedules, clipping, dropout rate, sinusoid parity, and
 * determinism: identical bits for repeated runs, and for 1 vs 2 threads in
 * the ops that do not call BLAS. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/nn.h"
#include "brainstage/safetensors.h"
#include "brainstage/tensor.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void near(const char *what, double got, double want, double atol, double rtol)
{
    CHECK(fabs(got - want) <= atol + rtol * fabs(want), "%s: got %.10g expected %.10g (atol %g + rtol %g)",
          what, got, want, atol, rtol);
}

typedef struct toy {
    nn_params p;
    float *w, *b, *ln_w, *rm, *nbt, *tok;
    float *gw, *gb, *gln;
} toy;

static int toy_build(toy *t, int out, bs_error *err)
{
    nn_params_init(&t->p);
    int64_t rshape[3] = {1, 1, 4};
    int rc = nn_params_add2(&t->p, "layer.0.linear.weight", out, 4, NN_PARAM_DECAY, &t->w, &t->gw, err);
    if (!rc)
        rc = nn_params_add1(&t->p, "layer.0.linear.bias", out, NN_PARAM_NO_DECAY, &t->b, &t->gb, err);
    if (!rc)
        rc = nn_params_add1(&t->p, "layer.0.norm.weight", 3, NN_PARAM_NO_DECAY, &t->ln_w, &t->gln, err);
    if (!rc)
        rc = nn_params_add1(&t->p, "bn.running_mean", 3, NN_PARAM_BUFFER, &t->rm, NULL, err);
    if (!rc)
        rc = nn_params_add(&t->p, "bn.num_batches_tracked", 0, NULL, NN_PARAM_BUFFER | NN_PARAM_INT64,
                           &t->nbt, NULL, err);
    if (!rc)
        rc = nn_params_add(&t->p, "mask_token", 3, rshape, NN_PARAM_NO_DECAY | NN_PARAM_FROZEN, &t->tok,
                           NULL, err);
    if (!rc)
        rc = nn_params_alloc(&t->p, err);
    return rc;
}

static void test_param_table(void)
{
    toy t;
    bs_error err = {0};
    int rc = toy_build(&t, 5, &err);
    CHECK(rc == BS_OK, "toy_build: %s", err.message);
    if (rc)
        return;
    CHECK(t.p.count == 6, "count %d", t.p.count);
    CHECK(((uintptr_t)t.w % 64) == 0 && ((uintptr_t)t.b % 64) == 0 && ((uintptr_t)t.tok % 64) == 0,
          "tensors not 64-byte aligned");
    CHECK(t.w == t.p.data && t.gw == t.p.grad, "first slot not at buffer start");
    CHECK(nn_params_find(&t.p, "layer.0.linear.bias") == 1, "find");
    CHECK(nn_params_find(&t.p, "nope") == -1, "find missing");
    CHECK(nn_params_data(&t.p, 1) == t.b && nn_params_grad(&t.p, 1) == t.gb, "data/grad accessors");
    CHECK(nn_params_num_trainable(&t.p) == 5 * 4 + 5 + 3, "trainable %zu", nn_params_num_trainable(&t.p));
    /* errors: duplicate, after alloc */
    nn_params q;
    nn_params_init(&q);
    float *x;
    CHECK(nn_params_add1(&q, "a", 3, 0, &x, NULL, &err) == BS_OK, "add a");
    CHECK(nn_params_add1(&q, "a", 3, 0, &x, NULL, &err) != BS_OK && strstr(err.message, "duplicate"),
          "duplicate accepted (%s)", err.message);
    CHECK(nn_params_add1(&q, "zero", 0, 0, &x, NULL, &err) != BS_OK, "empty shape accepted");
    nn_params_alloc(&q, &err);
    CHECK(nn_params_add1(&q, "late", 3, 0, &x, NULL, &err) != BS_OK, "add after alloc accepted");
    nn_params_free(&q);
    nn_params_free(&t.p);
}

static void fill_toy(toy *t, float base)
{
    for (size_t i = 0; i < t->p.total; i++)
        t->p.data[i] = base + 0.001f * (float)i;
    *t->nbt = 42;
    t->p.adam_step = 3;
    for (size_t i = 0; i < t->p.total; i++) {
        t->p.adam_m[i] = 0.5f * (float)i;
        t->p.adam_v[i] = 0.25f * (float)i;
    }
}

static void test_checkpoint(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/toy.safetensors", dir);
    toy a, b;
    bs_error err = {0};
    if (toy_build(&a, 5, &err) || toy_build(&b, 5, &err)) {
        CHECK(0, "toy_build: %s", err.message);
        return;
    }
    fill_toy(&a, 1.0f);
    bs_st_writer *w = bs_st_writer_new();
    int rc = nn_params_write(&a.p, w, "online.", &err);
    if (!rc)
        rc = nn_params_write_adam(&a.p, w, "optim.", &err);
    if (!rc)
        rc = bs_st_writer_write(w, path, &err);
    bs_st_writer_free(w);
    CHECK(rc == BS_OK, "write: %s", err.message);
    bs_safetensors *st = bs_st_open(path, &err);
    CHECK(st != NULL, "open: %s", err.message);
    if (!st)
        return;
    const bs_st_info *nb = bs_st_find(st, "online.bn.num_batches_tracked");
    CHECK(nb && nb->dtype == BS_ST_I64 && nb->ndim == 0, "num_batches_tracked stored as I64 scalar");
    const bs_st_info *tk = bs_st_find(st, "online.mask_token");
    CHECK(tk && tk->ndim == 3 && tk->shape[2] == 4, "mask_token shape [1,1,4]");
    rc = nn_params_read(&b.p, st, "online.", NN_LOAD_STRICT, &err);
    CHECK(rc == BS_OK, "read: %s", err.message);
    rc = nn_params_read_adam(&b.p, st, "optim.", &err);
    CHECK(rc == BS_OK, "read adam: %s", err.message);
    int same = 1;
    for (int i = 0; i < a.p.count; i++) {
        const nn_param *it = &a.p.items[i];
        if (memcmp(a.p.data + it->offset, b.p.data + it->offset, it->numel * sizeof(float)))
            same = 0;
        if (!(it->flags & (NN_PARAM_BUFFER | NN_PARAM_FROZEN)) &&
            (memcmp(a.p.adam_m + it->offset, b.p.adam_m + it->offset, it->numel * sizeof(float)) ||
             memcmp(a.p.adam_v + it->offset, b.p.adam_v + it->offset, it->numel * sizeof(float))))
            same = 0;
    }
    CHECK(same, "checkpoint round trip changed values");
    /* missing prefix: strict fails naming the tensor; tolerant keeps values */
    rc = nn_params_read(&b.p, st, "target.", NN_LOAD_STRICT, &err);
    CHECK(rc != BS_OK && strstr(err.message, "target.layer.0.linear.weight"), "strict missing: %s",
          err.message);
    rc = nn_params_read(&b.p, st, "target.", NN_LOAD_ALLOW_MISSING, &err);
    CHECK(rc == BS_OK, "tolerant load failed: %s", err.message);
    bs_st_close(st);
    /* shape mismatch: a table with out = 6 must refuse the out = 5 file */
    toy c;
    if (toy_build(&c, 6, &err) == BS_OK) {
        st = bs_st_open(path, &err);
        rc = st ? nn_params_read(&c.p, st, "online.", NN_LOAD_STRICT, &err) : -1;
        CHECK(rc != BS_OK && strstr(err.message, "linear.weight"), "shape mismatch accepted (%s)",
              err.message);
        bs_st_close(st);
        nn_params_free(&c.p);
    }
    remove(path);
    nn_params_free(&a.p);
    nn_params_free(&b.p);
}

static void test_ema_copy(void)
{
    toy a, b;
    bs_error err = {0};
    if (toy_build(&a, 5, &err) || toy_build(&b, 5, &err))
        return;
    fill_toy(&a, 1.0f);
    fill_toy(&b, 3.0f);
    float rm_b = b.rm[0];
    CHECK(nn_params_ema_update(&b.p, &a.p, 0.75f, &err) == BS_OK, "ema: %s", err.message);
    near("ema weight", b.w[2], 0.75 * (3.0 + 0.002) + 0.25 * (1.0 + 0.002), 1e-6, 1e-6);
    CHECK(b.rm[0] == rm_b, "EMA touched a buffer");
    CHECK(nn_params_copy(&b.p, &a.p, 1, &err) == BS_OK, "copy: %s", err.message);
    int same = 1;
    for (int i = 0; i < a.p.count; i++)
        same &= memcmp(a.p.data + a.p.items[i].offset, b.p.data + b.p.items[i].offset,
                       a.p.items[i].numel * sizeof(float)) == 0;
    CHECK(same, "copy differs");
    toy c;
    if (toy_build(&c, 6, &err) == BS_OK) {
        CHECK(nn_params_copy(&c.p, &a.p, 1, &err) != BS_OK, "copy across shapes accepted");
        CHECK(nn_params_ema_update(&c.p, &a.p, 0.5f, &err) != BS_OK, "EMA across shapes accepted");
        nn_params_free(&c.p);
    }
    nn_params_free(&a.p);
    nn_params_free(&b.p);
}

static void test_schedules_clipping(void)
{
    near("warmup step 0", nn_lr_warmup_cosine(0, 10, 110, 1e-3f, 0), 1e-4, 1e-9, 1e-6);
    near("warmup step 9", nn_lr_warmup_cosine(9, 10, 110, 1e-3f, 0), 1e-3, 1e-9, 1e-6);
    near("cosine mid", nn_lr_warmup_cosine(60, 10, 110, 1e-3f, 1e-5f), 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-9, 1e-5);
    near("cosine end", nn_lr_warmup_cosine(110, 10, 110, 1e-3f, 1e-5f), 1e-5, 1e-12, 1e-6);
    near("constant after warmup", nn_lr_warmup_constant(500, 10, 3e-4f), 3e-4, 1e-12, 1e-6);
    near("constant warmup", nn_lr_warmup_constant(4, 10, 3e-4f), 1.5e-4, 1e-12, 1e-6);
    float g[4] = {3, -4, 0.5f, -0.25f};
    nn_clip_grad_value(g, 4, 1.0f);
    CHECK(g[0] == 1 && g[1] == -1 && g[2] == 0.5f && g[3] == -0.25f, "clip by value");
    float h[2] = {3, 4};
    near("clip norm returns norm", nn_clip_grad_norm(h, 2, 1.0f), 5.0, 1e-9, 1e-9);
    near("clipped norm", nn_grad_norm(h, 2), 1.0, 1e-6, 1e-6);
    /* table versions skip buffers and frozen tensors */
    toy t;
    bs_error err = {0};
    if (toy_build(&t, 5, &err) == BS_OK) {
        for (size_t i = 0; i < t.p.total; i++)
            t.p.grad[i] = 10;
        nn_params_clip_grad_value(&t.p, 1.0f);
        CHECK(t.gw[0] == 1 && t.p.grad[t.p.items[5].offset] == 10, "table clip by value");
        near("table grad norm", nn_params_grad_norm(&t.p), sqrt(28.0), 1e-6, 1e-6);
        nn_params_free(&t.p);
    }
}

static void test_dropout_rate(void)
{
    size_t n = 200000;
    float *x = bs_alloc_floats(n), *y = bs_alloc_floats(n);
    uint8_t *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        x[i] = 1;
    nn_dropout_forward(y, m, x, n, 0.1f, 7);
    size_t kept = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        kept += m[i];
        sum += y[i];
    }
    /* binomial sd of the drop fraction ~ 0.00067: 5 sd */
    near("dropout keep fraction", (double)kept / n, 0.9, 0.0034, 0);
    near("dropout keeps the mean", sum / n, 1.0, 0.004, 0);
    nn_dropout_forward(y, m, x, n, 0.1f, 8);
    size_t same = 0, kept2 = 0;
    uint8_t *m1 = malloc(n);
    nn_dropout_forward(y, m1, x, n, 0.1f, 7);
    for (size_t i = 0; i < n; i++) {
        same += m[i] == m1[i];
        kept2 += m1[i];
    }
    CHECK(kept2 == kept, "same seed, different mask");
    CHECK(same < n, "different seeds gave the same mask");
    /* The keep test is an integer compare; it must give exactly the masks of
     * the documented double compare hash/2^53 >= p (the earlier code). */
    uint64_t stream = bs_splitmix64(7 ^ 0xd1b54a32d192ed03ULL);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = bs_splitmix64(stream + i * 0x9e3779b97f4a7c15ULL);
        differ += m1[i] != ((double)(h >> 11) * 0x1.0p-53 >= (double)0.1f);
    }
    CHECK(differ == 0, "dropout mask differs from hash >= p in %zu places", differ);
    /* ReLU+dropout keeps exactly the elements dropout keeps (positive input) */
    nn_relu_dropout_forward(y, x, n, 0.1f, 7);
    differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += (y[i] > 0) != (m1[i] != 0) || (y[i] > 0 && fabsf(y[i] - 1.0f / 0.9f) > 1e-6f);
    CHECK(differ == 0, "relu_dropout mask differs from dropout's in %zu places", differ);
    bs_free(x);
    bs_free(y);
    free(m);
    free(m1);
}

/* One MHA training step (forward + backward, dropout on) of a size that
 * takes the parallel paths; returns a checksum buffer. */
typedef struct mha_run {
    float *y, *dx, *din_w, *dout_w;
} mha_run;

static mha_run run_mha(int threads)
{
    nn_set_num_threads(threads);
    int B = 4, T = 40, C = 32, H = 4;
    size_t BT = (size_t)B * T;
    bs_rng *rng = bs_rng_new(3);
    float *x = bs_alloc_floats(BT * C), *in_w = bs_alloc_floats(3 * C * C), *in_b = bs_alloc_floats(3 * C);
    float *out_w = bs_alloc_floats(C * C), *out_b = bs_alloc_floats(C);
    nn_init_uniform(x, BT * C, -1, 1, rng);
    nn_init_xavier_uniform(in_w, C, 3 * C, rng);
    nn_init_linear(out_w, out_b, C, C, rng);
    bs_rng_free(rng);
    mha_run r;
    r.y = bs_alloc_floats(BT * C);
    r.dx = bs_alloc_floats(BT * C);
    r.din_w = bs_alloc_floats(3 * C * C);
    r.dout_w = bs_alloc_floats(C * C);
    float *qkv = bs_alloc_floats(BT * 3 * C), *ctx = bs_alloc_floats(BT * C);
    float *att = bs_alloc_floats((size_t)B * H * T * T);
    uint8_t *drop = malloc((size_t)B * H * T * T);
    float *dqkv = bs_alloc_floats(BT * 3 * C), *dctx = bs_alloc_floats(BT * C), *din_b = bs_alloc_floats(3 * C);
    float *dout_b = bs_alloc_floats(C), *dy = bs_alloc_floats(BT * C);
    for (size_t i = 0; i < BT * C; i++)
        dy[i] = (float)sin(0.37 * (double)i);
    nn_mha_opts opt = {NULL, NULL, 0.1f, 11};
    nn_mha_forward(r.y, qkv, ctx, att, drop, x, in_w, in_b, out_w, out_b, B, T, C, H, &opt);
    nn_mha_backward(r.dx, r.din_w, din_b, r.dout_w, dout_b, dqkv, dctx, dy, x, qkv, ctx, att, drop, in_w,
                    out_w, B, T, C, H, &opt);
    bs_free(x), bs_free(in_w), bs_free(in_b), bs_free(out_w), bs_free(out_b), bs_free(qkv), bs_free(ctx);
    bs_free(att), free(drop), bs_free(dqkv), bs_free(dctx), bs_free(din_b), bs_free(dout_b), bs_free(dy);
    return r;
}

static void test_determinism(void)
{
    int nthreads = nn_get_num_threads();
    mha_run a = run_mha(2), b = run_mha(2);
    size_t ny = 4 * 40 * 32;
    CHECK(memcmp(a.y, b.y, ny * sizeof(float)) == 0 && memcmp(a.dx, b.dx, ny * sizeof(float)) == 0 &&
              memcmp(a.din_w, b.din_w, 3 * 32 * 32 * sizeof(float)) == 0,
          "two identical MHA steps differ in bits");
    /* Non-BLAS ops: 1 vs 2 threads must agree bit for bit. */
    size_t N = 512, C = 96, n = N * C;
    float *x = bs_alloc_floats(n), *y1 = bs_alloc_floats(n), *y2 = bs_alloc_floats(n);
    float *m1 = bs_alloc_floats(N), *r1 = bs_alloc_floats(N), *dx1 = bs_alloc_floats(n), *dx2 = bs_alloc_floats(n);
    float *dw1 = bs_alloc_floats(C), *dw2 = bs_alloc_floats(C), *w = bs_alloc_floats(C), *bb = bs_alloc_floats(C);
    bs_rng *rng = bs_rng_new(5);
    nn_init_uniform(x, n, -2, 2, rng);
    nn_init_uniform(w, C, 0.5f, 1.5f, rng);
    bs_rng_free(rng);
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        float *y = threads == 1 ? y1 : y2, *dx = threads == 1 ? dx1 : dx2, *dw = threads == 1 ? dw1 : dw2;
        memset(dx, 0, n * sizeof(float));
        memset(dw, 0, C * sizeof(float));
        nn_layernorm_forward(y, m1, r1, x, w, bb, (int)N, (int)C, 1e-5f);
        nn_layernorm_backward(dx, dw, NULL, x, x, m1, r1, w, (int)N, (int)C);
        nn_batchnorm_forward_train(y, m1, r1, NULL, NULL, y, w, bb, (int)N, (int)C, 1e-5f, 0.1f);
        nn_batchnorm_backward(dx, dw, NULL, x, y, m1, r1, w, (int)N, (int)C);
        nn_gelu_forward(y, y, n, NN_GELU_ERF);
        nn_softmax_forward(y, y, (int)N, (int)C);
    }
    CHECK(memcmp(y1, y2, n * sizeof(float)) == 0 && memcmp(dx1, dx2, n * sizeof(float)) == 0 &&
              memcmp(dw1, dw2, C * sizeof(float)) == 0,
          "1 and 2 threads disagree in non-BLAS ops");
    nn_set_num_threads(nthreads);
    bs_free(x), bs_free(y1), bs_free(y2), bs_free(m1), bs_free(r1), bs_free(dx1), bs_free(dx2);
    bs_free(dw1), bs_free(dw2), bs_free(w), bs_free(bb);
    bs_free(a.y), bs_free(a.dx), bs_free(a.din_w), bs_free(a.dout_w);
    bs_free(b.y), bs_free(b.dx), bs_free(b.din_w), bs_free(b.dout_w);
}

/* attention: rows whose keys are all masked give zeros, not NaN */
static void test_all_masked_row(void)
{
    nn_attn_dims d = nn_attn_dims_packed(1, 3, 1, 2);
    uint8_t pad[3] = {1, 1, 1};
    d.key_padding = pad;
    float qkv[18], out[6], att[9];
    for (int i = 0; i < 18; i++)
        qkv[i] = (float)i * 0.1f;
    nn_attention_forward(out, att, NULL, qkv, qkv + 2, qkv + 4, &d);
    int finite = 1;
    for (int i = 0; i < 6; i++)
        finite &= out[i] == 0;
    CHECK(finite, "fully masked rows must give zeros");
}

/* float attention (vector exp, the ISA clone this machine picks) against its
 * double twin on a size with vector bodies and remainders: T = 77 */
static void test_attention_float_vs_double(void)
{
    int B = 2, T = 77, H = 3, hd = 8, C = H * hd;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * H * T * T;
    float *qkv = malloc(nqkv * sizeof(float)), *out = malloc(nout * sizeof(float));
    float *att = malloc(natt * sizeof(float));
    double *qkv_d = malloc(nqkv * sizeof(double)), *out_d = malloc(nout * sizeof(double));
    double *att_d = malloc(natt * sizeof(double));
    float *amask = calloc((size_t)T * T, sizeof(float));
    for (int i = 0; i < T; i++)
        amask[i * T + i] = -INFINITY;
    bs_rng *rng = bs_rng_new(77);
    for (size_t i = 0; i < nqkv; i++) {
        qkv[i] = (float)(6 * bs_rng_uniform(rng) - 3); /* wide score range */
        qkv_d[i] = qkv[i];
    }
    bs_rng_free(rng);
    nn_attn_dims d = nn_attn_dims_packed(B, T, H, hd);
    d.attn_mask = amask;
    nn_attention_forward(out, att, NULL, qkv, qkv + C, qkv + 2 * C, &d);
    nn_attention_forward_d(out_d, att_d, NULL, qkv_d, qkv_d + C, qkv_d + 2 * C, &d);
    /* An output is a convex combination of values in [-3, 3]: its float
     * rounding scales with max|v| = 3, not with |out| (which cancels to near
     * 0 in places), hence atol 3e-6 for outputs and 1e-6 for probabilities. */
    double worst = 0;
    for (size_t i = 0; i < nout; i++)
        worst = fmax(worst, fabs(out[i] - out_d[i]) / (3e-6 + 1e-5 * fabs(out_d[i])));
    for (size_t i = 0; i < natt; i++)
        worst = fmax(worst, fabs(att[i] - att_d[i]) / (1e-6 + 1e-5 * fabs(att_d[i])));
    CHECK(worst <= 1.0, "float vs double attention: %.2fx the tolerance (1e-6 or 3e-6) + 1e-5*|ref|", worst);
    int diag_zero = 1;
    for (int t = 0; t < T; t++)
        diag_zero &= att[(size_t)t * T + t] == 0.0f;
    CHECK(diag_zero, "masked (-inf) keys must get probability exactly 0");
    free(qkv), free(out), free(att), free(qkv_d), free(out_d), free(att_d), free(amask);
}

/* Inference without probabilities (att = NULL) takes the queries-along-lanes
 * kernel; it must agree with the row kernel that stores att: in double to
 * 1e-12 (both exact up to rounding), in float within 1e-6 + 1e-5*|ref| (the
 * sums run in different orders).  T = 37 gives two full query blocks of 16
 * floats and a partial one; one sample has every key padded (zero output). */
static void test_attention_eval_path(void)
{
    enum { B = 2, T = 37, H = 3, hd = 10, C = H * hd };
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * H * T * T;
    float *qkv = malloc(nqkv * sizeof(float)), *o1 = malloc(nout * sizeof(float)), *o2 = malloc(nout * sizeof(float));
    float *att = malloc(natt * sizeof(float));
    double *qd = malloc(nqkv * sizeof(double)), *d1 = malloc(nout * sizeof(double)), *d2 = malloc(nout * sizeof(double));
    double *attd = malloc(natt * sizeof(double));
    uint8_t pad[B * T] = {0};
    pad[3] = pad[20] = pad[36] = 1;
    for (int s = 0; s < T; s++)
        pad[T + s] = 1;
    bs_rng *rng = bs_rng_new(21);
    for (size_t i = 0; i < nqkv; i++)
        qd[i] = qkv[i] = (float)(4 * bs_rng_uniform(rng) - 2);
    bs_rng_free(rng);
    nn_attn_dims d = nn_attn_dims_packed(B, T, H, hd);
    d.key_padding = pad;
    nn_attention_forward(o1, att, NULL, qkv, qkv + C, qkv + 2 * C, &d);
    nn_attention_forward(o2, NULL, NULL, qkv, qkv + C, qkv + 2 * C, &d);
    nn_attention_forward_d(d1, attd, NULL, qd, qd + C, qd + 2 * C, &d);
    nn_attention_forward_d(d2, NULL, NULL, qd, qd + C, qd + 2 * C, &d);
    double wf = 0, wd = 0;
    int zero = 1;
    for (size_t i = 0; i < nout; i++) {
        wf = fmax(wf, fabs(o1[i] - o2[i]) / (1e-6 + 1e-5 * fabs(o1[i])));
        wd = fmax(wd, fabs(d1[i] - d2[i]));
        if (i >= nout / 2)
            zero &= o2[i] == 0.0f && d2[i] == 0.0;
    }
    CHECK(wf <= 1.0, "eval attention kernel vs row kernel (float): %.2fx the tolerance", wf);
    CHECK(wd < 1e-12, "eval attention kernel vs row kernel (double): %g", wd);
    CHECK(zero, "eval attention: a sample with every key padded must give zeros");
    free(qkv), free(o1), free(o2), free(att), free(qd), free(d1), free(d2), free(attd);
}

/* A two-layer MLP computed in hidden-column blocks with nn_linear_forward_ld
 * (strided weight block, accumulate) equals the plain computation (double,
 * so any indexing error shows far above rounding). */
static void test_blocked_linear(void)
{
    enum { N = 7, D = 5, F = 23, BLK = 8 };
    double x[N * D], w1[F * D], b1[F], w2[D * F], b2[D], u[N * F], y[N * D], ub[N * BLK], yb[N * D];
    bs_rng *rng = bs_rng_new(3);
    double *all[] = {x, w1, b1, w2, b2};
    size_t len[] = {N * D, F * D, F, D * F, D};
    for (int a = 0; a < 5; a++)
        for (size_t i = 0; i < len[a]; i++)
            all[a][i] = 2 * bs_rng_uniform(rng) - 1;
    bs_rng_free(rng);
    nn_linear_forward_d(u, x, w1, b1, N, D, F);
    nn_relu_forward_d(u, u, N * F);
    nn_linear_forward_d(y, u, w2, b2, N, F, D);
    for (int c0 = 0; c0 < F; c0 += BLK) {
        int cb = F - c0 < BLK ? F - c0 : BLK;
        nn_linear_forward_d(ub, x, w1 + (size_t)c0 * D, b1 + c0, N, D, cb);
        nn_relu_forward_d(ub, ub, (size_t)N * cb);
        nn_linear_forward_ld_d(yb, ub, w2 + c0, F, c0 == 0 ? b2 : NULL, N, cb, D, c0 > 0);
    }
    double worst = 0;
    for (int i = 0; i < N * D; i++)
        worst = fmax(worst, fabs(y[i] - yb[i]));
    CHECK(worst < 1e-12, "blocked MLP differs from the plain one by %g", worst);
}

int main(void)
{
    char dir[] = "/tmp/test_nn_misc.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_param_table();
    test_checkpoint(dir);
    test_ema_copy();
    test_schedules_clipping();
    test_dropout_rate();
    test_determinism();
    test_all_masked_row();
    test_attention_float_vs_double();
    test_blocked_linear();
    test_attention_eval_path();
    rmdir(dir);
    if (failures) {
        printf("%d check(s) FAILED\n", failures);
        return 1;
    }
    printf("nn misc: all checks passed\n");
    return 0;
}
