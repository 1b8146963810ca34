/* test_nn_gradcheck.c - finite-difference gradient checks, in double
 * precision, for the backward of every nn op.
 *
 * Each op is run through its _d twin (same source as the float op).  The
 * scalar checked is L = sum(out * w) with fixed random w (or the loss itself
 * for loss ops); the analytic gradient comes from the op's backward with
 * dout = w, the numeric one from central differences with step h = 1e-6.
 * Pass: |analytic - numeric| <= atol + rtol * |numeric| for every element
 * (atol 1e-7, rtol 1e-6).  A failure prints the op, the tensor, the worst
 * element and both values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nn.h"
#include "brainstage/rng.h"

#define ATOL 1e-7
#define RTOL 1e-6
#define STEP 1e-6

typedef struct gc_var {
    const char *name;
    double *x;    /* values perturbed */
    double *g;    /* analytic gradient (zeroed by the harness) */
    size_t n;
} gc_var;

typedef struct gc_case {
    const char *op;
    gc_var vars[6];
    int nvars;
    double *out; /* forward output, or NULL for loss ops */
    size_t nout;
    void (*fwd)(void *ctx, double *loss); /* loss only used for loss ops */
    void (*bwd)(void *ctx, const double *dout);
    void *ctx;
} gc_case;

static bs_rng *rng;
static int failures;

/* Every test buffer is remembered and freed at exit (leak-checker clean). */
static void *owned[1024];
static int nowned;
static void *track(void *p)
{
    if (!p || nowned == (int)(sizeof owned / sizeof owned[0])) {
        fprintf(stderr, "test_nn_gradcheck: out of memory or buffer slots\n");
        exit(99);
    }
    return owned[nowned++] = p;
}
static void free_all(void)
{
    while (nowned)
        free(owned[--nowned]);
}
static uint8_t *bytes(size_t n) { return track(calloc(n, 1)); }

static double *rnd(size_t n, double scale)
{
    double *v = track(malloc(sizeof(double) * n));
    for (size_t i = 0; i < n; i++)
        v[i] = scale * (2 * bs_rng_uniform(rng) - 1);
    return v;
}

/* Values bounded away from zero (kinks of relu/leaky relu). */
static double *rnd_away(size_t n)
{
    double *v = rnd(n, 1.0);
    for (size_t i = 0; i < n; i++)
        v[i] += v[i] >= 0 ? 0.05 : -0.05;
    return v;
}

static double *zeros(size_t n) { return track(calloc(n, sizeof(double))); }

static double scalar_loss(gc_case *c, const double *w)
{
    double loss = 0;
    c->fwd(c->ctx, &loss);
    if (!c->out)
        return loss;
    double s = 0;
    for (size_t i = 0; i < c->nout; i++)
        s += c->out[i] * w[i];
    return s;
}

static void run_case(gc_case *c)
{
    double *w = c->out ? rnd(c->nout, 1.0) : NULL; /* freed by free_all */
    double one = 1.0;
    for (int v = 0; v < c->nvars; v++)
        memset(c->vars[v].g, 0, sizeof(double) * c->vars[v].n);
    double l0 = scalar_loss(c, w);
    c->bwd(c->ctx, c->out ? w : &one);
    int ok = 1;
    for (int v = 0; v < c->nvars; v++) {
        gc_var *var = &c->vars[v];
        double worst = 0, wa = 0, wn = 0;
        size_t wi = 0;
        for (size_t i = 0; i < var->n; i++) {
            double keep = var->x[i];
            var->x[i] = keep + STEP;
            double lp = scalar_loss(c, w);
            var->x[i] = keep - STEP;
            double lm = scalar_loss(c, w);
            var->x[i] = keep;
            double num = (lp - lm) / (2 * STEP);
            double ratio = fabs(var->g[i] - num) / (ATOL + RTOL * fabs(num));
            if (ratio > worst || isnan(ratio)) {
                worst = isnan(ratio) ? INFINITY : ratio;
                wi = i;
                wa = var->g[i];
                wn = num;
            }
        }
        if (worst > 1.0) {
            printf("FAIL %-28s d%-8s element %zu: analytic %.12g numeric %.12g "
                   "(|diff| %.3g > atol %g + rtol %g*|num|)\n",
                   c->op, var->name, wi, wa, wn, fabs(wa - wn), ATOL, RTOL);
            ok = 0;
        }
    }
    scalar_loss(c, w); /* leave caches consistent */
    (void)l0;
    printf("%s %s\n", ok ? "ok  " : "FAIL", c->op);
    failures += !ok;
}

/* ---------------------------------------------------------------- linear */
typedef struct { double *x, *w, *b, *y, *dx, *dw, *db; int N, in, out; } linear_ctx;
static void linear_f(void *p, double *l)
{
    linear_ctx *c = p;
    (void)l;
    nn_linear_forward_d(c->y, c->x, c->w, c->b, c->N, c->in, c->out);
}
static void linear_b(void *p, const double *dy)
{
    linear_ctx *c = p;
    nn_linear_backward_d(c->dx, c->dw, c->db, dy, c->x, c->w, c->N, c->in, c->out);
}
static void check_linear(void)
{
    linear_ctx c = {.N = 5, .in = 7, .out = 4};
    c.x = rnd(35, 1), c.w = rnd(28, 1), c.b = rnd(4, 1), c.y = zeros(20);
    c.dx = zeros(35), c.dw = zeros(28), c.db = zeros(4);
    gc_case k = {"linear", {{"x", c.x, c.dx, 35}, {"w", c.w, c.dw, 28}, {"b", c.b, c.db, 4}}, 3,
                 c.y, 20, linear_f, linear_b, &c};
    run_case(&k);
}

/* --------------------------------------------------------------- bmm_nt */
typedef struct { double *a, *bt, *c, *da, *dbt; int batch, M, N, K; } bmm_ctx;
static void bmm_f(void *p, double *l)
{
    bmm_ctx *c = p;
    (void)l;
    nn_bmm_nt_forward_d(c->c, c->a, c->bt, c->batch, c->M, c->N, c->K);
}
static void bmm_b(void *p, const double *dc)
{
    bmm_ctx *c = p;
    nn_bmm_nt_backward_d(c->da, c->dbt, dc, c->a, c->bt, c->batch, c->M, c->N, c->K);
}
static void check_bmm(void)
{
    bmm_ctx c = {.batch = 2, .M = 3, .N = 4, .K = 5};
    c.a = rnd(30, 1), c.bt = rnd(40, 1), c.c = zeros(24), c.da = zeros(30), c.dbt = zeros(40);
    gc_case k = {"bmm_nt", {{"a", c.a, c.da, 30}, {"bt", c.bt, c.dbt, 40}}, 2, c.c, 24, bmm_f, bmm_b, &c};
    run_case(&k);
}

/* ------------------------------------------------------------ layernorm */
typedef struct { double *x, *w, *b, *y, *mean, *rstd, *dx, *dw, *db; int N, C; } norm_ctx;
static void ln_f(void *p, double *l)
{
    norm_ctx *c = p;
    (void)l;
    nn_layernorm_forward_d(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5f);
}
static void ln_b(void *p, const double *dy)
{
    norm_ctx *c = p;
    nn_layernorm_backward_d(c->dx, c->dw, c->db, dy, c->x, c->mean, c->rstd, c->w, c->N, c->C);
}
static norm_ctx norm_setup(int N, int C, int affine)
{
    norm_ctx c = {.N = N, .C = C};
    size_t n = (size_t)N * C;
    c.x = rnd(n, 2), c.y = zeros(n), c.dx = zeros(n);
    c.mean = zeros(N > C ? N : C), c.rstd = zeros(N > C ? N : C);
    c.w = affine ? rnd(C, 1) : NULL, c.b = affine ? rnd(C, 1) : NULL;
    c.dw = zeros(C), c.db = zeros(C);
    return c;
}
static void check_layernorm(void)
{
    norm_ctx c = norm_setup(4, 9, 1);
    gc_case k = {"layernorm", {{"x", c.x, c.dx, 36}, {"w", c.w, c.dw, 9}, {"b", c.b, c.db, 9}}, 3,
                 c.y, 36, ln_f, ln_b, &c};
    run_case(&k);
    norm_ctx c2 = norm_setup(3, 70, 0); /* > one 64-channel block */
    gc_case k2 = {"layernorm(no affine,C=70)", {{"x", c2.x, c2.dx, 210}}, 1, c2.y, 210, ln_f, ln_b, &c2};
    run_case(&k2);
}

/* residual + layernorm: s = a + r, y = LN(s); backward = LN backward on s,
 * whose dx goes to both a and r */
typedef struct { norm_ctx n; double *r, *dr, *s, *ds; } addln_ctx;
static void addln_f(void *p, double *l)
{
    addln_ctx *c = p;
    (void)l;
    nn_add_layernorm_forward_d(c->n.y, c->s, c->n.mean, c->n.rstd, c->n.x, c->r, c->n.w, c->n.b, c->n.N,
                               c->n.C, 1e-5f);
}
static void addln_b(void *p, const double *dy)
{
    addln_ctx *c = p;
    size_t n = (size_t)c->n.N * c->n.C;
    memset(c->ds, 0, sizeof(double) * n);
    nn_layernorm_backward_d(c->ds, c->n.dw, c->n.db, dy, c->s, c->n.mean, c->n.rstd, c->n.w, c->n.N, c->n.C);
    nn_accumulate_d(c->n.dx, c->ds, n);
    nn_accumulate_d(c->dr, c->ds, n);
}
static void check_add_layernorm(void)
{
    addln_ctx c = {.n = norm_setup(5, 37, 1)};
    size_t n = 5 * 37;
    c.r = rnd(n, 2), c.dr = zeros(n), c.s = zeros(n), c.ds = zeros(n);
    gc_case k = {"add_layernorm(C=37)", {{"a", c.n.x, c.n.dx, n}, {"r", c.r, c.dr, n}, {"w", c.n.w, c.n.dw, 37},
                 {"b", c.n.b, c.n.db, 37}}, 4, c.n.y, n, addln_f, addln_b, &c};
    run_case(&k);
}

/* ------------------------------------------------------------ batchnorm */
typedef struct { norm_ctx n; double *rm, *rv; } bn_ctx;
static void bn_f(void *p, double *l)
{
    bn_ctx *c = p;
    (void)l;
    nn_batchnorm_forward_train_d(c->n.y, c->n.mean, c->n.rstd, c->rm, c->rv, c->n.x, c->n.w, c->n.b,
                                 c->n.N, c->n.C, 1e-5f, 0.1f);
}
static void bn_b(void *p, const double *dy)
{
    bn_ctx *c = p;
    nn_batchnorm_backward_d(c->n.dx, c->n.dw, c->n.db, dy, c->n.x, c->n.mean, c->n.rstd, c->n.w,
                            c->n.N, c->n.C);
}
static void bne_f(void *p, double *l)
{
    bn_ctx *c = p;
    (void)l;
    nn_batchnorm_forward_eval_d(c->n.y, c->n.x, c->n.w, c->n.b, c->rm, c->rv, c->n.N, c->n.C, 1e-5f);
}
static void bne_b(void *p, const double *dy)
{
    bn_ctx *c = p;
    nn_batchnorm_backward_eval_d(c->n.dx, c->n.dw, c->n.db, dy, c->n.x, c->n.w, c->rm, c->rv,
                                 c->n.N, c->n.C, 1e-5f);
}
static void check_batchnorm(void)
{
    bn_ctx c = {.n = norm_setup(6, 67, 1)};
    c.rm = rnd(67, 0.5), c.rv = rnd(67, 0.5);
    for (int i = 0; i < 67; i++)
        c.rv[i] += 1.0;
    gc_case k = {"batchnorm1d(train)", {{"x", c.n.x, c.n.dx, 402}, {"w", c.n.w, c.n.dw, 67},
                 {"b", c.n.b, c.n.db, 67}}, 3, c.n.y, 402, bn_f, bn_b, &c};
    run_case(&k);
    gc_case k2 = {"batchnorm1d(eval)", {{"x", c.n.x, c.n.dx, 402}, {"w", c.n.w, c.n.dw, 67},
                  {"b", c.n.b, c.n.db, 67}}, 3, c.n.y, 402, bne_f, bne_b, &c};
    run_case(&k2);
}

/* ---------------------------------------------------- pointwise family */
typedef struct { double *x, *y, *dx, *tmp; size_t n; int which; uint8_t *mask; } pw_ctx;
static void pw_f(void *p, double *l)
{
    pw_ctx *c = p;
    (void)l;
    switch (c->which) {
    case 0: nn_relu_forward_d(c->y, c->x, c->n); break;
    case 1: nn_leaky_relu_forward_d(c->y, c->x, c->n, 0.01f); break;
    case 2: nn_gelu_forward_d(c->y, c->x, c->n, NN_GELU_ERF); break;
    case 3: nn_gelu_forward_d(c->y, c->x, c->n, NN_GELU_TANH); break;
    case 4: nn_dropout_forward_d(c->y, c->mask, c->x, c->n, 0.3f, 1234); break;
    case 5: nn_relu_dropout_forward_d(c->y, c->x, c->n, 0.3f, 1234); break;
    case 6: nn_relu_dropout_forward_d(c->y, c->x, c->n, 0.0f, 1234); break;
    case 7: nn_relu_dropout_forward_d(c->y, c->x, c->n, 0.3f, 99); break;
    }
}
static void pw_b(void *p, const double *dy)
{
    pw_ctx *c = p;
    switch (c->which) {
    case 0: nn_relu_backward_d(c->dx, dy, c->x, c->n); break;
    case 1: nn_leaky_relu_backward_d(c->dx, dy, c->x, c->n, 0.01f); break;
    case 2: nn_gelu_backward_d(c->dx, dy, c->x, c->n, NN_GELU_ERF); break;
    case 3: nn_gelu_backward_d(c->dx, dy, c->x, c->n, NN_GELU_TANH); break;
    case 4: nn_dropout_backward_d(c->dx, dy, c->mask, c->n, 0.3f); break;
    case 5: nn_relu_dropout_backward_d(c->dx, dy, c->y, c->n, 0.3f); break;
    case 6: nn_relu_dropout_backward_d(c->dx, dy, c->y, c->n, 0.0f); break;
    case 7: /* in place: dx == dy overwrites */
        memcpy(c->tmp, dy, sizeof(double) * c->n);
        nn_relu_dropout_backward_d(c->tmp, c->tmp, c->y, c->n, 0.3f);
        for (size_t i = 0; i < c->n; i++)
            c->dx[i] += c->tmp[i];
        break;
    }
}
static void check_pointwise(void)
{
    const char *names[] = {"relu", "leaky_relu", "gelu(erf)", "gelu(tanh)", "dropout(p=0.3)",
                           "relu_dropout(p=0.3)", "relu_dropout(p=0)", "relu_dropout(in place)"};
    for (int which = 0; which < 8; which++) {
        pw_ctx c = {.n = 40, .which = which};
        c.x = rnd_away(40);
        for (int i = 0; i < 40; i++)
            c.x[i] *= 3;
        c.y = zeros(40), c.dx = zeros(40), c.tmp = zeros(40), c.mask = bytes(40);
        gc_case k = {names[which], {{"x", c.x, c.dx, 40}}, 1, c.y, 40, pw_f, pw_b, &c};
        run_case(&k);
    }
}

/* ------------------------------------------------------- adds, softmax */
typedef struct { double *a, *b, *y, *da, *db; int B, N, C, which; } add_ctx;
static void add_f(void *p, double *l)
{
    add_ctx *c = p;
    (void)l;
    switch (c->which) {
    case 0: nn_add_forward_d(c->y, c->a, c->b, (size_t)c->N); break;
    case 1: nn_add_bcast_forward_d(c->y, c->a, c->b, c->B, (size_t)c->N); break;
    case 2: nn_softmax_forward_d(c->y, c->a, c->N, c->C); break;
    case 3: nn_log_softmax_forward_d(c->y, c->a, c->N, c->C); break;
    }
}
static void add_b(void *p, const double *dy)
{
    add_ctx *c = p;
    switch (c->which) {
    case 0: nn_add_backward_d(c->da, c->db, dy, (size_t)c->N); break;
    case 1: nn_add_bcast_backward_d(c->da, c->db, dy, c->B, (size_t)c->N); break;
    case 2: nn_softmax_backward_d(c->da, dy, c->y, c->N, c->C); break;
    case 3: nn_log_softmax_backward_d(c->da, dy, c->y, c->N, c->C); break;
    }
}
static void check_adds_softmax(void)
{
    add_ctx c = {.N = 12, .which = 0};
    c.a = rnd(12, 1), c.b = rnd(12, 1), c.y = zeros(12), c.da = zeros(12), c.db = zeros(12);
    gc_case k = {"add", {{"a", c.a, c.da, 12}, {"b", c.b, c.db, 12}}, 2, c.y, 12, add_f, add_b, &c};
    run_case(&k);
    add_ctx c2 = {.B = 3, .N = 8, .which = 1};
    c2.a = rnd(24, 1), c2.b = rnd(8, 1), c2.y = zeros(24), c2.da = zeros(24), c2.db = zeros(8);
    gc_case k2 = {"add_bcast", {{"x", c2.a, c2.da, 24}, {"row", c2.b, c2.db, 8}}, 2, c2.y, 24,
                  add_f, add_b, &c2};
    run_case(&k2);
    for (int which = 2; which <= 3; which++) {
        add_ctx c3 = {.N = 4, .C = 6, .which = which};
        c3.a = rnd(24, 3), c3.y = zeros(24), c3.da = zeros(24);
        gc_case k3 = {which == 2 ? "softmax" : "log_softmax", {{"x", c3.a, c3.da, 24}}, 1, c3.y, 24,
                      add_f, add_b, &c3};
        run_case(&k3);
    }
}

/* ------------------------------------------------------------ attention */
typedef struct {
    nn_attn_dims d;
    double *q, *k, *v, *out, *att, *dq, *dk, *dv;
    uint8_t *drop;
} attn_ctx;
static void attn_f(void *p, double *l)
{
    attn_ctx *c = p;
    (void)l;
    nn_attention_forward_d(c->out, c->att, c->drop, c->q, c->k, c->v, &c->d);
}
static void attn_b(void *p, const double *dout)
{
    attn_ctx *c = p;
    nn_attention_backward_d(c->dq, c->dk, c->dv, dout, c->att, c->drop, c->q, c->k, c->v, &c->d);
}
/* Packed self-attention case: qkv [B,T,3C] with optional masks and dropout. */
static void packed_attention_case(const char *name, int B, int T, int H, int hd, const float *amask,
                                  const uint8_t *pad, float dropout, uint64_t seed, double scale)
{
    int C = H * hd;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * H * T * T;
    attn_ctx *c = track(calloc(1, sizeof *c));
    c->d = nn_attn_dims_packed(B, T, H, hd);
    c->d.attn_mask = amask;
    c->d.key_padding = pad;
    c->d.dropout = dropout;
    c->d.seed = seed;
    double *qkv = rnd(nqkv, scale), *dqkv = zeros(nqkv);
    c->q = qkv, c->k = qkv + C, c->v = qkv + 2 * C;
    c->dq = dqkv, c->dk = dqkv + C, c->dv = dqkv + 2 * C;
    c->out = zeros(nout), c->att = zeros(natt), c->drop = bytes(natt);
    gc_case k = {name, {{"qkv", qkv, dqkv, nqkv}}, 1, c->out, nout, attn_f, attn_b, c};
    run_case(&k);
}

static void check_attention(void)
{
    /* packed self-attention with an additive mask, key padding and dropout */
    static float amask[25];
    for (int i = 0; i < 25; i++)
        amask[i] = (i % 6 == 0) ? -INFINITY : 0.1f * (float)(i % 4); /* -inf diagonal */
    static uint8_t pad[10] = {0, 0, 0, 0, 1, 0, 1, 0, 0, 0};
    packed_attention_case("attention(packed,masks,dropout)", 2, 5, 2, 3, amask, pad, 0.2f, 99, 1.5);

    /* sizes that take every path of the register-blocked kernels: several
     * key chunks plus a partial one (T = 19 keys, 8 doubles per vector),
     * row blocks plus a partial one, head dim 10 (not a vector multiple) */
    static uint8_t pad2[38];
    pad2[5] = pad2[19 + 18] = 1;
    packed_attention_case("attention(T=19,hd=10,blocked)", 2, 19, 2, 10, NULL, pad2, 0.1f, 5, 1.0);

    /* static graph: Q and K shared over the batch (batch stride 0), V per
     * sample, cross-attention shapes Tq != Tk */
    attn_ctx s;
    memset(&s, 0, sizeof s);
    int Tq = 4, Tk = 6;
    s.d.B = 3, s.d.H = 2, s.d.Tq = Tq, s.d.Tk = Tk, s.d.hd = 2;
    int Cs = 4;
    s.d.q_bs = 0, s.d.q_ts = Cs, s.d.k_bs = 0, s.d.k_ts = Cs;
    s.d.v_bs = (long)Tk * Cs, s.d.v_ts = Cs, s.d.o_bs = (long)Tq * Cs, s.d.o_ts = Cs;
    s.d.scale = 0.7f;
    s.q = rnd((size_t)Tq * Cs, 1), s.k = rnd((size_t)Tk * Cs, 1), s.v = rnd((size_t)3 * Tk * Cs, 1);
    s.dq = zeros((size_t)Tq * Cs), s.dk = zeros((size_t)Tk * Cs), s.dv = zeros((size_t)3 * Tk * Cs);
    s.out = zeros((size_t)3 * Tq * Cs), s.att = zeros((size_t)3 * 2 * Tq * Tk);
    gc_case k2 = {"attention(shared q/k,Tq!=Tk)", {{"q", s.q, s.dq, (size_t)Tq * Cs},
                  {"k", s.k, s.dk, (size_t)Tk * Cs}, {"v", s.v, s.dv, (size_t)3 * Tk * Cs}}, 3,
                  s.out, (size_t)3 * Tq * Cs, attn_f, attn_b, &s};
    run_case(&k2);
}

/* ------------------------------------------------------------------ MHA */
typedef struct {
    int B, T, C, H;
    nn_mha_opts opt;
    double *x, *in_w, *in_b, *out_w, *out_b, *y, *qkv, *ctx, *att, *dqkv, *dctx;
    double *dx, *din_w, *din_b, *dout_w, *dout_b;
    uint8_t *drop;
} mha_ctx;
static void mha_f(void *p, double *l)
{
    mha_ctx *c = p;
    (void)l;
    nn_mha_forward_d(c->y, c->qkv, c->ctx, c->att, c->drop, c->x, c->in_w, c->in_b, c->out_w,
                     c->out_b, c->B, c->T, c->C, c->H, &c->opt);
}
static void mha_b(void *p, const double *dy)
{
    mha_ctx *c = p;
    nn_mha_backward_d(c->dx, c->din_w, c->din_b, c->dout_w, c->dout_b, c->dqkv, c->dctx, dy, c->x,
                      c->qkv, c->ctx, c->att, c->drop, c->in_w, c->out_w, c->B, c->T, c->C, c->H,
                      &c->opt);
}
static void check_mha(void)
{
    mha_ctx c = {.B = 2, .T = 4, .C = 6, .H = 3};
    static uint8_t pad[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    c.opt.key_padding = pad;
    c.opt.dropout = 0.1f;
    c.opt.seed = 5;
    size_t BT = 8, C = 6;
    c.x = rnd(BT * C, 1), c.in_w = rnd(3 * C * C, 0.7), c.in_b = rnd(3 * C, 0.3);
    c.out_w = rnd(C * C, 0.7), c.out_b = rnd(C, 0.3);
    c.y = zeros(BT * C), c.qkv = zeros(BT * 3 * C), c.ctx = zeros(BT * C);
    c.att = zeros(2 * 3 * 16), c.drop = bytes(2 * 3 * 16);
    c.dqkv = zeros(BT * 3 * C), c.dctx = zeros(BT * C);
    c.dx = zeros(BT * C), c.din_w = zeros(3 * C * C), c.din_b = zeros(3 * C);
    c.dout_w = zeros(C * C), c.dout_b = zeros(C);
    gc_case k = {"mha(key_padding,dropout)", {{"x", c.x, c.dx, BT * C}, {"in_w", c.in_w, c.din_w, 3 * C * C},
                 {"in_b", c.in_b, c.din_b, 3 * C}, {"out_w", c.out_w, c.dout_w, C * C},
                 {"out_b", c.out_b, c.dout_b, C}}, 5, c.y, BT * C, mha_f, mha_b, &c};
    run_case(&k);
}

/* ------------------------------------------------------- token plumbing */
typedef struct { double *x, *t, *y, *dx, *dt; uint8_t *mask; int32_t *rows; int B, T, K, C, which; } tok_ctx;
static void tok_f(void *p, double *l)
{
    tok_ctx *c = p;
    (void)l;
    switch (c->which) {
    case 0: nn_mask_token_forward_d(c->y, c->x, c->t, c->mask, c->B * c->T, c->C); break;
    case 1: nn_prepend_tokens_forward_d(c->y, c->x, c->t, c->B, c->T, c->K, c->C); break;
    case 2: nn_gather_rows_forward_d(c->y, c->x, c->rows, c->K, c->C); break;
    case 3: nn_mean_tokens_forward_d(c->y, c->x, c->B, c->T, c->C); break;
    }
}
static void tok_b(void *p, const double *dy)
{
    tok_ctx *c = p;
    switch (c->which) {
    case 0: nn_mask_token_backward_d(c->dx, c->dt, dy, c->mask, c->B * c->T, c->C); break;
    case 1: nn_prepend_tokens_backward_d(c->dx, c->dt, dy, c->B, c->T, c->K, c->C); break;
    case 2: nn_gather_rows_backward_d(c->dx, dy, c->rows, c->K, c->C); break;
    case 3: nn_mean_tokens_backward_d(c->dx, dy, c->B, c->T, c->C); break;
    }
}
static void check_tokens(void)
{
    static uint8_t mask[8] = {0, 1, 0, 0, 1, 1, 0, 0};
    static int32_t rows[5] = {3, 0, 3, 7, 1};
    int B = 2, T = 4, C = 3, K = 2;
    size_t n = (size_t)B * T * C;
    tok_ctx c = {.B = B, .T = T, .C = C, .K = K, .mask = mask, .rows = rows};
    c.x = rnd(n, 1), c.t = rnd((size_t)K * C, 1), c.dx = zeros(n), c.dt = zeros((size_t)K * C);
    c.y = zeros((size_t)B * (T + K) * C);
    c.which = 0;
    gc_case k0 = {"mask_token", {{"x", c.x, c.dx, n}, {"token", c.t, c.dt, (size_t)C}}, 2, c.y, n,
                  tok_f, tok_b, &c};
    run_case(&k0);
    c.which = 1;
    gc_case k1 = {"prepend_tokens", {{"x", c.x, c.dx, n}, {"tokens", c.t, c.dt, (size_t)K * C}}, 2, c.y,
                  (size_t)B * (T + K) * C, tok_f, tok_b, &c};
    run_case(&k1);
    c.which = 2;
    c.K = 5;
    gc_case k2 = {"gather_rows(repeats)", {{"x", c.x, c.dx, n}}, 1, c.y, (size_t)5 * C, tok_f, tok_b, &c};
    run_case(&k2);
    c.which = 3;
    gc_case k3 = {"mean_tokens", {{"x", c.x, c.dx, n}}, 1, c.y, (size_t)B * C, tok_f, tok_b, &c};
    run_case(&k3);
}

/* --------------------------------------------------------------- losses */
typedef struct { double *a, *b, *w, *da, *db, *cos, *probs; int32_t *tg; int N, D, which; } loss_ctx;
static void loss_f(void *p, double *l)
{
    loss_ctx *c = p;
    size_t n = (size_t)c->N * c->D;
    switch (c->which) {
    case 0: *l = nn_mse_forward_d(c->a, c->b, c->w, n, 1.0 / n); break;
    case 1: nn_cosine_forward_d(c->cos, c->a, c->b, c->N, c->D, 1e-8f); break;
    case 2: *l = nn_byol_loss_forward_d(c->cos, c->a, c->b, c->N, c->D); break;
    case 3: *l = nn_cross_entropy_forward_d(c->probs, c->a, c->tg, c->N, c->D); break;
    }
}
static void loss_b(void *p, const double *d)
{
    loss_ctx *c = p;
    size_t n = (size_t)c->N * c->D;
    switch (c->which) {
    case 0: nn_mse_backward_d(c->da, c->db, c->a, c->b, c->w, n, 1.0 / n, d[0]); break;
    case 1: nn_cosine_backward_d(c->da, c->db, d, c->a, c->b, c->N, c->D, 1e-8f); break;
    case 2: nn_byol_loss_backward_d(c->da, c->db, c->a, c->b, c->N, c->D, d[0]); break;
    case 3: nn_cross_entropy_backward_d(c->da, c->probs, c->tg, c->N, c->D, d[0]); break;
    }
}
static void check_losses(void)
{
    int N = 4, D = 7;
    size_t n = (size_t)N * D;
    static int32_t tg[4] = {2, -1, 6, 0};
    loss_ctx c = {.N = N, .D = D, .tg = tg};
    c.a = rnd(n, 1), c.b = rnd(n, 1), c.w = rnd(n, 1), c.da = zeros(n), c.db = zeros(n);
    c.cos = zeros(N), c.probs = zeros(n);
    for (size_t i = 0; i < n; i++)
        c.w[i] = (i % 3 == 0) ? 0.75 : 0.25;
    c.which = 0;
    gc_case k0 = {"mse(weighted)", {{"pred", c.a, c.da, n}, {"target", c.b, c.db, n}}, 2, NULL, 0,
                  loss_f, loss_b, &c};
    run_case(&k0);
    c.which = 1;
    gc_case k1 = {"cosine", {{"a", c.a, c.da, n}, {"b", c.b, c.db, n}}, 2, c.cos, (size_t)N, loss_f,
                  loss_b, &c};
    run_case(&k1);
    c.which = 2;
    gc_case k2 = {"byol(2-2cos)", {{"p", c.a, c.da, n}, {"z", c.b, c.db, n}}, 2, NULL, 0, loss_f,
                  loss_b, &c};
    run_case(&k2);
    c.which = 3;
    gc_case k3 = {"cross_entropy(ignore -1)", {{"logits", c.a, c.da, n}}, 1, NULL, 0, loss_f, loss_b, &c};
    run_case(&k3);
}

/* The harness must catch a wrong backward: a 1 % error in dW. */
static void broken_b(void *p, const double *dy)
{
    linear_ctx *c = p;
    nn_linear_backward_d(c->dx, c->dw, c->db, dy, c->x, c->w, c->N, c->in, c->out);
    c->dw[3] *= 1.01;
}
static void check_harness_detects_errors(void)
{
    linear_ctx c = {.N = 3, .in = 4, .out = 2};
    c.x = rnd(12, 1), c.w = rnd(8, 1), c.b = rnd(2, 1), c.y = zeros(6);
    c.dx = zeros(12), c.dw = zeros(8), c.db = zeros(2);
    gc_case k = {"self-test (planted error, must FAIL)", {{"w", c.w, c.dw, 8}}, 1, c.y, 6, linear_f, broken_b, &c};
    int before = failures;
    run_case(&k);
    if (failures == before) {
        printf("FAIL the harness accepted a wrong gradient\n");
        failures++;
    } else {
        printf("ok   (the FAIL above is expected: the harness caught a planted error)\n");
        failures = before;
    }
}

int main(void)
{
    rng = bs_rng_new(20261124);
    check_harness_detects_errors();
    check_linear();
    check_bmm();
    check_layernorm();
    check_add_layernorm();
    check_batchnorm();
    check_pointwise();
    check_adds_softmax();
    check_attention();
    check_mha();
    check_tokens();
    check_losses();
    bs_rng_free(rng);
    free_all();
    if (failures) {
        printf("%d gradient check(s) FAILED\n", failures);
        return 1;
    }
    printf("all gradient checks passed (atol %g + rtol %g*|ref|, h = %g)\n", ATOL, RTOL, STEP);
    return 0;
}
