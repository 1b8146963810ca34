/* test_nn_golden.c - C driver of tests/nn_golden.py: runs the float nn ops
 * on the inputs PyTorch saw and compares outputs and gradients within
 * atol 1e-5 + rtol 1e-4 (float32).  Usage: test_nn_golden RECORDS.bin
 * (the record format is described in nn_golden.py). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nn.h"

#define ATOL 1e-5
#define RTOL 1e-4

typedef struct rec {
    char name[128];
    int ndim;
    int64_t shape[8];
    size_t n;
    float *data;
} rec;

static rec recs[512];
static int nrecs, failures, checks;

static int load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint32_t len;
    while (fread(&len, 4, 1, f) == 1) {
        rec *r = &recs[nrecs];
        uint32_t nd;
        if (len >= sizeof r->name || fread(r->name, 1, len, f) != len || fread(&nd, 4, 1, f) != 1 ||
            nd > 8 || fread(r->shape, 8, nd, f) != nd) {
            fprintf(stderr, "%s: malformed record %d\n", path, nrecs);
            fclose(f);
            return -1;
        }
        r->name[len] = 0;
        r->ndim = (int)nd;
        r->n = 1;
        for (uint32_t d = 0; d < nd; d++)
            r->n *= (size_t)r->shape[d];
        r->data = malloc(sizeof(float) * (r->n ? r->n : 1));
        if (fread(r->data, sizeof(float), r->n, f) != r->n) {
            fprintf(stderr, "%s: truncated record '%s'\n", path, r->name);
            fclose(f);
            return -1;
        }
        if (++nrecs == (int)(sizeof recs / sizeof recs[0]))
            break;
    }
    fclose(f);
    return 0;
}

static float *get(const char *name)
{
    for (int i = 0; i < nrecs; i++)
        if (strcmp(recs[i].name, name) == 0)
            return recs[i].data;
    fprintf(stderr, "missing record '%s'\n", name);
    exit(1);
}

/* Scratch buffers are remembered and freed at exit (leak-checker clean). */
static void *owned[512];
static int nowned;
static float *zeros(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p || nowned == (int)(sizeof owned / sizeof owned[0])) {
        fprintf(stderr, "test_nn_golden: out of memory or buffer slots\n");
        exit(99);
    }
    return owned[nowned++] = p;
}
static void free_all(void)
{
    while (nowned)
        free(owned[--nowned]);
    for (int i = 0; i < nrecs; i++)
        free(recs[i].data);
}

static void compare(const char *what, const float *got, const float *ref, size_t n)
{
    double worst = 0, maxdiff = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double r = d / (ATOL + RTOL * fabs((double)ref[i]));
        if (isnan(r) || r > worst) {
            worst = isnan(r) ? INFINITY : r;
            wi = i;
        }
        if (d > maxdiff)
            maxdiff = d;
    }
    checks++;
    if (worst > 1.0) {
        failures++;
        printf("FAIL %-24s element %zu: got %.9g expected %.9g (atol %g + rtol %g*|ref| exceeded %.2fx)\n",
               what, wi, got[wi], ref[wi], ATOL, RTOL, worst);
    } else {
        printf("ok   %-24s n=%-4zu max|diff| %.3g (%.2f of tolerance)\n", what, n, maxdiff, worst);
    }
}

static void compare_scalar(const char *what, double got, const float *ref)
{
    float g = (float)got;
    compare(what, &g, ref, 1);
}

static void test_linear(void)
{
    int N = 6, in = 7, out = 5;
    float *y = zeros(30), *dx = zeros(42), *dw = zeros(35), *db = zeros(5);
    nn_linear_forward(y, get("linear.x"), get("linear.w"), get("linear.b"), N, in, out);
    nn_linear_backward(dx, dw, db, get("linear.dy"), get("linear.x"), get("linear.w"), N, in, out);
    compare("linear y", y, get("linear.y"), 30);
    compare("linear dx", dx, get("linear.dx"), 42);
    compare("linear dW", dw, get("linear.dw"), 35);
    compare("linear db", db, get("linear.db"), 5);
}

static void test_layernorm(void)
{
    int N = 8, C = 10;
    float *y = zeros(80), *m = zeros(8), *rs = zeros(8), *dx = zeros(80), *dw = zeros(10), *db = zeros(10);
    nn_layernorm_forward(y, m, rs, get("layernorm.x"), get("layernorm.w"), get("layernorm.b"), N, C, 1e-5f);
    nn_layernorm_backward(dx, dw, db, get("layernorm.dy"), get("layernorm.x"), m, rs, get("layernorm.w"), N, C);
    compare("layernorm y", y, get("layernorm.y"), 80);
    compare("layernorm dx", dx, get("layernorm.dx"), 80);
    compare("layernorm dw", dw, get("layernorm.dw"), 10);
    compare("layernorm db", db, get("layernorm.db"), 10);
}

static void test_batchnorm(void)
{
    int N = 16, C = 12;
    float *y = zeros(192), *m = zeros(12), *rs = zeros(12), *dx = zeros(192), *dw = zeros(12), *db = zeros(12);
    float *rm = zeros(12), *rv = zeros(12);
    memcpy(rm, get("bn.rm0"), 12 * sizeof(float));
    memcpy(rv, get("bn.rv0"), 12 * sizeof(float));
    nn_batchnorm_forward_train(y, m, rs, rm, rv, get("bn.x"), get("bn.w"), get("bn.b"), N, C, 1e-5f, 0.1f);
    nn_batchnorm_backward(dx, dw, db, get("bn.dy"), get("bn.x"), m, rs, get("bn.w"), N, C);
    compare("batchnorm(train) y", y, get("bn.y"), 192);
    compare("batchnorm(train) dx", dx, get("bn.dx"), 192);
    compare("batchnorm(train) dw", dw, get("bn.dw"), 12);
    compare("batchnorm(train) db", db, get("bn.db"), 12);
    compare("batchnorm running_mean", rm, get("bn.rm1"), 12);
    compare("batchnorm running_var", rv, get("bn.rv1"), 12);
    float *y2 = zeros(60), *dx2 = zeros(60), *dw2 = zeros(12), *db2 = zeros(12);
    nn_batchnorm_forward_eval(y2, get("bn.x2"), get("bn.w"), get("bn.b"), rm, rv, 5, C, 1e-5f);
    nn_batchnorm_backward_eval(dx2, dw2, db2, get("bn.dy2"), get("bn.x2"), get("bn.w"), rm, rv, 5, C, 1e-5f);
    compare("batchnorm(eval) y", y2, get("bn.y2"), 60);
    compare("batchnorm(eval) dx", dx2, get("bn.dx2"), 60);
    compare("batchnorm(eval) dw", dw2, get("bn.dw2"), 12);
    compare("batchnorm(eval) db", db2, get("bn.db2"), 12);
}

static void test_pointwise(void)
{
    const float *x = get("pw.x"), *dy = get("pw.dy");
    size_t n = 64;
    float *y = zeros(n), *dx = zeros(n);
    const char *names[4] = {"relu", "leaky", "gelu_erf", "gelu_tanh"};
    for (int k = 0; k < 4; k++) {
        memset(dx, 0, n * sizeof(float));
        switch (k) {
        case 0: nn_relu_forward(y, x, n); nn_relu_backward(dx, dy, x, n); break;
        case 1: nn_leaky_relu_forward(y, x, n, 0.01f); nn_leaky_relu_backward(dx, dy, x, n, 0.01f); break;
        case 2: nn_gelu_forward(y, x, n, NN_GELU_ERF); nn_gelu_backward(dx, dy, x, n, NN_GELU_ERF); break;
        case 3: nn_gelu_forward(y, x, n, NN_GELU_TANH); nn_gelu_backward(dx, dy, x, n, NN_GELU_TANH); break;
        }
        char a[64], b[64];
        snprintf(a, sizeof a, "pw.%s.y", names[k]);
        snprintf(b, sizeof b, "pw.%s.dx", names[k]);
        compare(a, y, get(a), n);
        compare(b, dx, get(b), n);
    }
    float *sy = zeros(36), *sdx = zeros(36);
    nn_softmax_forward(sy, get("sm.x"), 4, 9);
    nn_softmax_backward(sdx, get("sm.dy"), sy, 4, 9);
    compare("softmax y", sy, get("sm.softmax.y"), 36);
    compare("softmax dx", sdx, get("sm.softmax.dx"), 36);
    memset(sdx, 0, 36 * sizeof(float));
    nn_log_softmax_forward(sy, get("sm.x"), 4, 9);
    nn_log_softmax_backward(sdx, get("sm.dy"), sy, 4, 9);
    compare("log_softmax y", sy, get("sm.log_softmax.y"), 36);
    compare("log_softmax dx", sdx, get("sm.log_softmax.dx"), 36);
}

static void test_mha(void)
{
    int B = 2, T = 5, C = 12, H = 3;
    size_t BT = (size_t)B * T;
    float *amask = zeros((size_t)T * T);
    memcpy(amask, get("mha.amask_finite"), sizeof(float) * T * T);
    for (int i = 0; i < T; i++)
        amask[i * T + i] = -INFINITY;
    uint8_t pad[10];
    for (int i = 0; i < 10; i++)
        pad[i] = get("mha.pad")[i] != 0;
    nn_mha_opts opt = {amask, pad, 0.0f, 0};
    float *y = zeros(BT * C), *qkv = zeros(BT * 3 * C), *ctx = zeros(BT * C);
    float *att = zeros((size_t)B * H * T * T), *avg = zeros((size_t)B * T * T);
    float *dqkv = zeros(BT * 3 * C), *dctx = zeros(BT * C), *dx = zeros(BT * C);
    float *din_w = zeros(3 * C * C), *din_b = zeros(3 * C), *dout_w = zeros(C * C), *dout_b = zeros(C);
    nn_mha_forward(y, qkv, ctx, att, NULL, get("mha.x"), get("mha.in_w"), get("mha.in_b"),
                   get("mha.out_w"), get("mha.out_b"), B, T, C, H, &opt);
    nn_attention_average_heads(avg, att, B, H, T, T);
    nn_mha_backward(dx, din_w, din_b, dout_w, dout_b, dqkv, dctx, get("mha.dy"), get("mha.x"), qkv, ctx,
                    att, NULL, get("mha.in_w"), get("mha.out_w"), B, T, C, H, &opt);
    compare("mha y", y, get("mha.y"), BT * C);
    compare("mha attn weights (avg)", avg, get("mha.attn_avg"), (size_t)B * T * T);
    compare("mha dx", dx, get("mha.dx"), BT * C);
    compare("mha d in_proj_weight", din_w, get("mha.din_w"), 3 * C * C);
    compare("mha d in_proj_bias", din_b, get("mha.din_b"), 3 * C);
    compare("mha d out_proj.weight", dout_w, get("mha.dout_w"), C * C);
    compare("mha d out_proj.bias", dout_b, get("mha.dout_b"), C);
}

static void test_losses(void)
{
    int N = 6, D = 10;
    size_t n = (size_t)N * D;
    float *dp = zeros(n), *dt = zeros(n);
    double l = nn_mse_forward(get("mse.p"), get("mse.t"), get("mse.w"), n, 1.0 / n);
    nn_mse_backward(dp, dt, get("mse.p"), get("mse.t"), get("mse.w"), n, 1.0 / n, 1.0);
    compare_scalar("mse(weighted) loss", l, get("mse.loss"));
    compare("mse d pred", dp, get("mse.dp"), n);
    compare("mse d target", dt, get("mse.dt"), n);

    float *dz = zeros(n);
    memset(dp, 0, n * sizeof(float));
    l = nn_byol_loss_forward(NULL, get("byol.p"), get("byol.z"), N, D);
    nn_byol_loss_backward(dp, dz, get("byol.p"), get("byol.z"), N, D, 1.0);
    compare_scalar("byol loss", l, get("byol.loss"));
    compare("byol d p", dp, get("byol.dp"), n);
    compare("byol d z", dz, get("byol.dz"), n);

    int32_t tg[6];
    for (int i = 0; i < N; i++)
        tg[i] = (int32_t)get("ce.targets")[i];
    float *probs = zeros(n), *dl = zeros(n);
    l = nn_cross_entropy_forward(probs, get("ce.logits"), tg, N, D);
    nn_cross_entropy_backward(dl, probs, tg, N, D, 1.0);
    compare_scalar("cross_entropy loss", l, get("ce.loss"));
    compare("cross_entropy d logits", dl, get("ce.dlogits"), n);

    /* InfoNCE: logits[b] = orig[b] pred[b]^T, targets = diagonal */
    int Bn = 3, M = 4, R = 8;
    float *lg = zeros((size_t)Bn * M * M), *pr = zeros((size_t)Bn * M * M), *dlg = zeros((size_t)Bn * M * M);
    float *dorig = zeros((size_t)Bn * M * R), *dpred = zeros((size_t)Bn * M * R);
    int32_t t2[12];
    for (int i = 0; i < Bn * M; i++)
        t2[i] = i % M;
    nn_bmm_nt_forward(lg, get("nce.orig"), get("nce.pred"), Bn, M, M, R);
    l = nn_cross_entropy_forward(pr, lg, t2, Bn * M, M);
    nn_cross_entropy_backward(dlg, pr, t2, Bn * M, M, 1.0);
    nn_bmm_nt_backward(dorig, dpred, dlg, get("nce.orig"), get("nce.pred"), Bn, M, M, R);
    compare_scalar("infonce loss", l, get("nce.loss"));
    compare("infonce d orig", dorig, get("nce.dorig"), (size_t)Bn * M * R);
    compare("infonce d pred", dpred, get("nce.dpred"), (size_t)Bn * M * R);
}

static void test_adamw(void)
{
    nn_params p;
    bs_error err = {0};
    float *w, *b, *v, *gw, *gb, *gv;
    nn_params_init(&p);
    if (nn_params_add2(&p, "w", 4, 5, NN_PARAM_DECAY, &w, &gw, &err) ||
        nn_params_add1(&p, "b", 5, NN_PARAM_NO_DECAY, &b, &gb, &err) ||
        nn_params_add1(&p, "v", 3, NN_PARAM_DECAY, &v, &gv, &err) || nn_params_alloc(&p, &err)) {
        printf("FAIL param table: %s\n", err.message);
        failures++;
        return;
    }
    memcpy(w, get("adam.w0"), 20 * sizeof(float));
    memcpy(b, get("adam.b0"), 5 * sizeof(float));
    memcpy(v, get("adam.v0"), 3 * sizeof(float));
    nn_adamw_cfg cfg = nn_adamw_defaults();
    cfg.weight_decay = 0.05f;
    float norms[10];
    for (int step = 0; step < 10; step++) {
        char name[32];
        snprintf(name, sizeof name, "adam.gw%d", step);
        memcpy(gw, get(name), 20 * sizeof(float));
        snprintf(name, sizeof name, "adam.gb%d", step);
        memcpy(gb, get(name), 5 * sizeof(float));
        snprintf(name, sizeof name, "adam.gv%d", step);
        memcpy(gv, get(name), 3 * sizeof(float));
        /* w and b are contiguous in the table: clip their joint norm */
        float *wb[2] = {gw, gb};
        size_t nwb[2] = {20, 5};
        double sq = 0;
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < nwb[k]; i++)
                sq += (double)wb[k][i] * wb[k][i];
        double norm = sqrt(sq), coef = 1.0 / (norm + 1e-6);
        if (coef < 1)
            for (int k = 0; k < 2; k++)
                for (size_t i = 0; i < nwb[k]; i++)
                    wb[k][i] *= (float)coef;
        norms[step] = (float)norm;
        nn_clip_grad_value(gv, 3, 1.0f);
        nn_params_adamw_step(&p, get("adam.lr")[step], &cfg);
    }
    compare("clip_grad_norm norms", norms, get("adam.norms"), 10);
    compare("adamw 10 steps: w", w, get("adam.w10"), 20);
    compare("adamw 10 steps: b(no wd)", b, get("adam.b10"), 5);
    compare("adamw 10 steps: v(clip val)", v, get("adam.v10"), 3);
    nn_params_free(&p);
}

/* nn_clip_grad_norm against the same numbers (one flat buffer). */
static void test_clip_norm(void)
{
    float g[25];
    memcpy(g, get("adam.gw0"), 20 * sizeof(float));
    memcpy(g + 20, get("adam.gb0"), 5 * sizeof(float));
    float norm = (float)nn_clip_grad_norm(g, 25, 1.0f);
    compare("nn_clip_grad_norm", &norm, get("adam.norms"), 1);
    float after = (float)nn_grad_norm(g, 25), one = 1.0f;
    compare("norm after clipping", &after, &one, 1);
}

static void test_sinusoid(void)
{
    float tab[120];
    nn_sinusoid_table(tab, 12, 10, 10000.0);
    compare("sinusoid table", tab, get("sinusoid"), 120);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RECORDS.bin (run by tests/nn_golden.py)\n", argv[0]);
        return 2;
    }
    if (load(argv[1])) {
        free_all();
        return 1;
    }
    test_linear();
    test_layernorm();
    test_batchnorm();
    test_pointwise();
    test_mha();
    test_losses();
    test_adamw();
    test_clip_norm();
    test_sinusoid();
    free_all();
    if (failures) {
        printf("%d of %d golden checks FAILED\n", failures, checks);
        return 1;
    }
    printf("all %d golden checks within atol %g + rtol %g*|ref|\n", checks, ATOL, RTOL);
    return 0;
}
