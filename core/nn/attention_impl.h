/* nn/attention_impl.h - scaled-dot-product attention core and the
 * torch.nn.MultiheadAttention wrapper; type-generic body (instantiated by
 * attention.c; see real_begin.h).
 *
 * The projections go through BLAS in nn_linear_*; the per-(batch, head)
 * products are vectorised loops.  One (batch, head) pair is one unit of
 * OpenMP work. */
#include "nn/real_begin.h"

/* Per (batch, head) pair, K and V are first copied transposed into
 * contiguous [hd, Tk] scratch, so that every inner loop runs over the key
 * index with unit stride and vectorises (omp simd); head dims are too small
 * (10..32) for per-pair BLAS calls to pay off, and OpenBLAS must not be
 * called from inside OpenMP regions anyway. */

static void FN(gather_t)(real *dst, const real *src, long ts, int Tk, int hd)
{
    for (int s = 0; s < Tk; s++) {
        const real *row = src + (size_t)s * ts;
        for (int j = 0; j < hd; j++)
            dst[(size_t)j * Tk + s] = row[j];
    }
}

static void FN(scatter_add_t)(real *dst, const real *src, long ts, int Tk, int hd)
{
    for (int s = 0; s < Tk; s++) {
        real *row = dst + (size_t)s * ts;
        for (int j = 0; j < hd; j++)
            row[j] += src[(size_t)j * Tk + s];
    }
}

/* Scores of query row t (q pre-scaled) into p[Tk], masked, then softmax in
 * place; returns 0 when all keys are masked (p left zero). */
static inline __attribute__((always_inline)) int FN(attn_row)(real *p, const real *qt, const real *Kt, int b, int t,
                        const nn_attn_dims *d, real scale)
{
    int Tk = d->Tk, hd = d->hd;
    const uint8_t *pad = d->key_padding ? d->key_padding + (size_t)b * Tk : NULL;
    const float *am = d->attn_mask ? d->attn_mask + (size_t)t * Tk : NULL;
    for (int s = 0; s < Tk; s++)
        p[s] = 0;
    for (int j = 0; j < hd; j++) {
        real qj = qt[j] * scale;
        const real *kj = Kt + (size_t)j * Tk;
#pragma omp simd
        for (int s = 0; s < Tk; s++)
            p[s] += qj * kj[s];
    }
    if (am)
#pragma omp simd
        for (int s = 0; s < Tk; s++)
            p[s] += (real)am[s];
    if (pad)
        for (int s = 0; s < Tk; s++)
            if (pad[s])
                p[s] = -INFINITY;
    real mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int s = 0; s < Tk; s++)
        mx = p[s] > mx ? p[s] : mx;
    if (mx == -INFINITY) {
        for (int s = 0; s < Tk; s++)
            p[s] = 0;
        return 0;
    }
    /* exp(-inf - mx) is exactly 0: masked keys drop out without a branch */
    real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int s = 0; s < Tk; s++) {
        p[s] = R_EXP_NEG(p[s] - mx);
        sum += p[s];
    }
    real inv = 1 / sum;
#pragma omp simd
    for (int s = 0; s < Tk; s++)
        p[s] *= inv;
    return 1;
}

static real FN(attn_scale)(const nn_attn_dims *d)
{
    return d->scale > 0 ? (real)d->scale : (real)(1.0 / sqrt((double)d->hd));
}

/* scratch: Kt [hd*Tk], Vt [hd*Tk], p [Tk], pd [Tk] */
NN_HOT static void FN(attn_forward_pair)(real *out, real *att, uint8_t *drop, const real *q,
                                  const real *k, const real *v, const nn_attn_dims *d,
                                  int b, int h, real *scratch)
{
    int Tq = d->Tq, Tk = d->Tk, hd = d->hd;
    real scale = FN(attn_scale)(d);
    size_t hoff = (size_t)h * hd, pair = (size_t)b * d->H + h;
    real *Kt = scratch, *Vt = Kt + (size_t)hd * Tk, *prow = Vt + (size_t)hd * Tk, *pd = prow + Tk;
    FN(gather_t)(Kt, k + (size_t)b * d->k_bs + hoff, d->k_ts, Tk, hd);
    FN(gather_t)(Vt, v + (size_t)b * d->v_bs + hoff, d->v_ts, Tk, hd);
    const real *qb = q + (size_t)b * d->q_bs + hoff;
    real *ob = out + (size_t)b * d->o_bs + hoff;
    real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    uint64_t stream = nn_dropout_stream(d->seed);
    for (int t = 0; t < Tq; t++) {
        real *p = att ? att + (pair * Tq + t) * Tk : prow;
        int alive = FN(attn_row)(p, qb + (size_t)t * d->q_ts, Kt, b, t, d, scale);
        const real *w = p;
        if (d->dropout > 0) {
            uint8_t *dm = drop ? drop + (pair * Tq + t) * Tk : NULL;
            for (int s = 0; s < Tk; s++) {
                uint8_t keep = nn_hash_uniform(stream, (pair * Tq + t) * Tk + s) >= (double)d->dropout;
                if (dm)
                    dm[s] = keep;
                pd[s] = keep ? p[s] * keep_scale : 0;
            }
            w = pd;
        }
        real *ot = ob + (size_t)t * d->o_ts;
        for (int j = 0; j < hd; j++) {
            const real *vj = Vt + (size_t)j * Tk;
            real acc = 0;
            if (alive) {
#pragma omp simd reduction(+ : acc)
                for (int s = 0; s < Tk; s++)
                    acc += w[s] * vj[s];
            }
            ot[j] = acc;
        }
    }
}

void FN(nn_attention_forward)(real *out, real *att, uint8_t *drop, const real *q,
                              const real *k, const real *v, const nn_attn_dims *d)
{
    int B = d->B, H = d->H, npair = B * H;
    size_t work = (size_t)npair * d->Tq * d->Tk * d->hd;
#pragma omp parallel if (work > NN_PAR_MIN)
    {
        real *scratch = malloc(sizeof(real) * (2 * (size_t)d->hd + 2) * (size_t)d->Tk);
#pragma omp for schedule(static)
        for (int ph = 0; ph < npair; ph++)
            FN(attn_forward_pair)(out, att, drop, q, k, v, d, ph / H, ph % H, scratch);
        free(scratch);
    }
}

/* scratch: Kt, Vt, dKt, dVt [hd*Tk each], dp [Tk], pd [Tk] */
NN_HOT static void FN(attn_backward_pair)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                                   const uint8_t *drop, const real *q, const real *k, const real *v,
                                   const nn_attn_dims *d, int b, int h, real *scratch)
{
    int Tq = d->Tq, Tk = d->Tk, hd = d->hd;
    real scale = FN(attn_scale)(d);
    real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    size_t hoff = (size_t)h * hd, pair = (size_t)b * d->H + h, plane = (size_t)hd * Tk;
    real *Kt = scratch, *Vt = Kt + plane, *dKt = Vt + plane, *dVt = dKt + plane;
    real *dp = dVt + plane, *pd = dp + Tk;
    FN(gather_t)(Kt, k + (size_t)b * d->k_bs + hoff, d->k_ts, Tk, hd);
    FN(gather_t)(Vt, v + (size_t)b * d->v_bs + hoff, d->v_ts, Tk, hd);
    memset(dKt, 0, sizeof(real) * 2 * plane);
    const real *qb = q + (size_t)b * d->q_bs + hoff;
    const real *gb = dout + (size_t)b * d->o_bs + hoff;
    real *dqb = dq ? dq + (size_t)b * d->q_bs + hoff : NULL;
    for (int t = 0; t < Tq; t++) {
        const real *p = att + (pair * Tq + t) * Tk;
        const uint8_t *dm = d->dropout > 0 ? drop + (pair * Tq + t) * Tk : NULL;
        const real *gt = gb + (size_t)t * d->o_ts;
        /* out_t = sum_s pd_s v_s with pd_s = p_s * keep_s * keep_scale:
         * dpd_s = <g_t, v_s>; dp_s = dpd_s * keep_s * keep_scale */
        for (int s = 0; s < Tk; s++)
            dp[s] = 0;
        for (int j = 0; j < hd; j++) {
            real gj = gt[j];
            const real *vj = Vt + (size_t)j * Tk;
#pragma omp simd
            for (int s = 0; s < Tk; s++)
                dp[s] += gj * vj[s];
        }
        for (int s = 0; s < Tk; s++) {
            real ks = dm ? (dm[s] ? keep_scale : 0) : 1;
            dp[s] *= ks;
            pd[s] = p[s] * ks;
        }
        if (dv)
            for (int j = 0; j < hd; j++) {
                real gj = gt[j];
                real *dvj = dVt + (size_t)j * Tk;
#pragma omp simd
                for (int s = 0; s < Tk; s++)
                    dvj[s] += pd[s] * gj;
            }
        /* softmax backward, then the scale: ds_s = p_s (dp_s - <p, dp>) * scale */
        double sum = 0;
        for (int s = 0; s < Tk; s++)
            sum += (double)p[s] * dp[s];
        real sr = (real)sum;
        for (int s = 0; s < Tk; s++)
            dp[s] = p[s] * (dp[s] - sr) * scale;
        const real *qt = qb + (size_t)t * d->q_ts;
        for (int j = 0; j < hd; j++) {
            if (dqb) {
                const real *kj = Kt + (size_t)j * Tk;
                real acc = 0;
#pragma omp simd reduction(+ : acc)
                for (int s = 0; s < Tk; s++)
                    acc += dp[s] * kj[s];
                dqb[(size_t)t * d->q_ts + j] += acc;
            }
            if (dk) {
                real qj = qt[j];
                real *dkj = dKt + (size_t)j * Tk;
#pragma omp simd
                for (int s = 0; s < Tk; s++)
                    dkj[s] += dp[s] * qj;
            }
        }
    }
    if (dk)
        FN(scatter_add_t)(dk + (size_t)b * d->k_bs + hoff, dKt, d->k_ts, Tk, hd);
    if (dv)
        FN(scatter_add_t)(dv + (size_t)b * d->v_bs + hoff, dVt, d->v_ts, Tk, hd);
}

void FN(nn_attention_backward)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                               const uint8_t *drop, const real *q, const real *k, const real *v,
                               const nn_attn_dims *d)
{
    int B = d->B, H = d->H;
    size_t work = (size_t)B * H * d->Tq * d->Tk * d->hd;
    size_t nscratch = (4 * (size_t)d->hd + 2) * (size_t)d->Tk;
    /* A gradient shared across the batch (batch stride 0) must be summed
     * over b by one thread: then only heads run in parallel. */
    int shared = B > 1 && ((dq && d->q_bs == 0) || (dk && d->k_bs == 0) || (dv && d->v_bs == 0));
    if (shared) {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = malloc(sizeof(real) * nscratch);
#pragma omp for schedule(static)
            for (int h = 0; h < H; h++)
                for (int b = 0; b < B; b++)
                    FN(attn_backward_pair)(dq, dk, dv, dout, att, drop, q, k, v, d, b, h, scratch);
            free(scratch);
        }
    } else {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = malloc(sizeof(real) * nscratch);
#pragma omp for schedule(static)
            for (int ph = 0; ph < B * H; ph++)
                FN(attn_backward_pair)(dq, dk, dv, dout, att, drop, q, k, v, d, ph / H, ph % H,
                                       scratch);
            free(scratch);
        }
    }
}

void FN(nn_attention_average_heads)(real *avg, const real *att, int B, int H, int Tq, int Tk)
{
    size_t plane = (size_t)Tq * Tk;
#pragma omp parallel for schedule(static) if ((size_t)B * H * plane > NN_PAR_MIN)
    for (int b = 0; b < B; b++) {
        real *ab = avg + (size_t)b * plane;
        for (size_t i = 0; i < plane; i++) {
            double s = 0;
            for (int h = 0; h < H; h++)
                s += att[((size_t)b * H + h) * plane + i];
            ab[i] = (real)(s / H);
        }
    }
}

static nn_attn_dims FN(mha_dims)(int B, int T, int C, int H, const nn_mha_opts *opt)
{
    nn_attn_dims d = nn_attn_dims_packed(B, T, H, C / H);
    if (opt) {
        d.attn_mask = opt->attn_mask;
        d.key_padding = opt->key_padding;
        d.dropout = opt->dropout;
        d.seed = opt->seed;
    }
    return d;
}

void FN(nn_mha_forward)(real *y, real *qkv, real *ctx, real *att, uint8_t *drop,
                        const real *x, const real *in_w, const real *in_b,
                        const real *out_w, const real *out_b,
                        int B, int T, int C, int H, const nn_mha_opts *opt)
{
    nn_attn_dims d = FN(mha_dims)(B, T, C, H, opt);
    FN(nn_linear_forward)(qkv, x, in_w, in_b, B * T, C, 3 * C);
    FN(nn_attention_forward)(ctx, att, drop, qkv, qkv + C, qkv + 2 * C, &d);
    FN(nn_linear_forward)(y, ctx, out_w, out_b, B * T, C, C);
}

void FN(nn_mha_backward)(real *dx, real *din_w, real *din_b, real *dout_w, real *dout_b,
                         real *dqkv, real *dctx, const real *dy, const real *x,
                         const real *qkv, const real *ctx, const real *att, const uint8_t *drop,
                         const real *in_w, const real *out_w,
                         int B, int T, int C, int H, const nn_mha_opts *opt)
{
    nn_attn_dims d = FN(mha_dims)(B, T, C, H, opt);
    size_t BT = (size_t)B * T;
    memset(dctx, 0, sizeof(real) * BT * C);
    memset(dqkv, 0, sizeof(real) * BT * 3 * C);
    FN(nn_linear_backward)(dctx, dout_w, dout_b, dy, ctx, out_w, B * T, C, C);
    FN(nn_attention_backward)(dqkv, dqkv + C, dqkv + 2 * C, dctx, att, drop, qkv, qkv + C,
                              qkv + 2 * C, &d);
    FN(nn_linear_backward)(dx, din_w, din_b, dqkv, x, in_w, B * T, C, 3 * C);
}

#include "nn/real_end.h"
