/* nn/attention_impl.h - scaled-dot-product attention core and the
 * torch.nn.MultiheadAttention wrapper; type-generic body (instantiated by
 * attention.c; see real_begin.h).
 *
 * Head dims are small here (10 for BrainMass, 32 for BrainMAE), so the
 * per-(batch, head) products are plain loops; the projections go through
 * BLAS in nn_linear_*.  One (batch, head) pair is one unit of OpenMP work. */
#include "nn/real_begin.h"

/* Probabilities of query row t of pair (b, h) into p[Tk]; returns 0 when all
 * keys are masked (p left zero). */
static int FN(attn_row)(real *p, const real *qt, const real *kb, int b, int t,
                        const nn_attn_dims *d, real scale)
{
    int Tk = d->Tk, hd = d->hd;
    const uint8_t *pad = d->key_padding ? d->key_padding + (size_t)b * Tk : NULL;
    const float *am = d->attn_mask ? d->attn_mask + (size_t)t * Tk : NULL;
    real mx = -INFINITY;
    for (int s = 0; s < Tk; s++) {
        real sc;
        if (pad && pad[s]) {
            sc = -INFINITY;
        } else {
            const real *ks = kb + (size_t)s * d->k_ts;
            real dot = 0;
            for (int j = 0; j < hd; j++)
                dot += qt[j] * ks[j];
            sc = dot * scale + (am ? (real)am[s] : 0);
        }
        p[s] = sc;
        mx = sc > mx ? sc : mx;
    }
    if (mx == -INFINITY) {
        for (int s = 0; s < Tk; s++)
            p[s] = 0;
        return 0;
    }
    double sum = 0;
    for (int s = 0; s < Tk; s++) {
        p[s] = p[s] == -INFINITY ? 0 : R_EXP(p[s] - mx);
        sum += p[s];
    }
    real inv = (real)(1.0 / sum);
    for (int s = 0; s < Tk; s++)
        p[s] *= inv;
    return 1;
}

static void FN(attn_forward_pair)(real *out, real *att, uint8_t *drop, const real *q,
                                  const real *k, const real *v, const nn_attn_dims *d,
                                  int b, int h, real *scratch)
{
    int Tq = d->Tq, Tk = d->Tk, hd = d->hd;
    real scale = d->scale > 0 ? (real)d->scale : (real)(1.0 / sqrt((double)hd));
    const real *qb = q + (size_t)b * d->q_bs + (size_t)h * hd;
    const real *kb = k + (size_t)b * d->k_bs + (size_t)h * hd;
    const real *vb = v + (size_t)b * d->v_bs + (size_t)h * hd;
    real *ob = out + (size_t)b * d->o_bs + (size_t)h * hd;
    size_t pair = (size_t)b * d->H + h;
    real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    uint64_t stream = nn_dropout_stream(d->seed);
    for (int t = 0; t < Tq; t++) {
        real *p = att ? att + (pair * Tq + t) * Tk : scratch;
        real *pd = scratch + Tk; /* probabilities after dropout */
        int alive = FN(attn_row)(p, qb + (size_t)t * d->q_ts, kb, b, t, d, scale);
        real *ot = ob + (size_t)t * d->o_ts;
        for (int j = 0; j < hd; j++)
            ot[j] = 0;
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
        if (!alive)
            continue;
        for (int s = 0; s < Tk; s++) {
            real ws = w[s];
            if (ws == 0)
                continue;
            const real *vs = vb + (size_t)s * d->v_ts;
            for (int j = 0; j < hd; j++)
                ot[j] += ws * vs[j];
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
        real *scratch = malloc(sizeof(real) * 2 * (size_t)d->Tk);
#pragma omp for schedule(static)
        for (int ph = 0; ph < npair; ph++)
            FN(attn_forward_pair)(out, att, drop, q, k, v, d, ph / H, ph % H, scratch);
        free(scratch);
    }
}

static void FN(attn_backward_pair)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                                   const uint8_t *drop, const real *q, const real *k, const real *v,
                                   const nn_attn_dims *d, int b, int h, real *scratch)
{
    int Tq = d->Tq, Tk = d->Tk, hd = d->hd;
    real scale = d->scale > 0 ? (real)d->scale : (real)(1.0 / sqrt((double)hd));
    real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    size_t hoff = (size_t)h * hd, pair = (size_t)b * d->H + h;
    const real *qb = q + (size_t)b * d->q_bs + hoff;
    const real *kb = k + (size_t)b * d->k_bs + hoff;
    const real *vb = v + (size_t)b * d->v_bs + hoff;
    const real *gb = dout + (size_t)b * d->o_bs + hoff;
    real *dqb = dq ? dq + (size_t)b * d->q_bs + hoff : NULL;
    real *dkb = dk ? dk + (size_t)b * d->k_bs + hoff : NULL;
    real *dvb = dv ? dv + (size_t)b * d->v_bs + hoff : NULL;
    real *dp = scratch; /* gradient w.r.t. probabilities, then scores */
    for (int t = 0; t < Tq; t++) {
        const real *p = att + (pair * Tq + t) * Tk;
        const uint8_t *dm = d->dropout > 0 ? drop + (pair * Tq + t) * Tk : NULL;
        const real *gt = gb + (size_t)t * d->o_ts;
        /* out_t = sum_s pd_s v_s, pd_s = p_s * keep_s * keep_scale */
        for (int s = 0; s < Tk; s++) {
            const real *vs = vb + (size_t)s * d->v_ts;
            real dot = 0;
            for (int j = 0; j < hd; j++)
                dot += gt[j] * vs[j];
            real ks = dm ? (dm[s] ? keep_scale : 0) : 1;
            dp[s] = dot * ks;
            if (dvb) {
                real pd = p[s] * ks;
                if (pd != 0) {
                    real *dvs = dvb + (size_t)s * d->v_ts;
                    for (int j = 0; j < hd; j++)
                        dvs[j] += pd * gt[j];
                }
            }
        }
        /* softmax backward: dscore_s = p_s (dp_s - sum_r p_r dp_r) */
        double sum = 0;
        for (int s = 0; s < Tk; s++)
            sum += (double)p[s] * dp[s];
        real sr = (real)sum;
        const real *qt = qb + (size_t)t * d->q_ts;
        real *dqt = dqb ? dqb + (size_t)t * d->q_ts : NULL;
        for (int s = 0; s < Tk; s++) {
            real ds = p[s] * (dp[s] - sr) * scale;
            if (ds == 0)
                continue;
            const real *ks = kb + (size_t)s * d->k_ts;
            if (dqt)
                for (int j = 0; j < hd; j++)
                    dqt[j] += ds * ks[j];
            if (dkb) {
                real *dks = dkb + (size_t)s * d->k_ts;
                for (int j = 0; j < hd; j++)
                    dks[j] += ds * qt[j];
            }
        }
    }
}

void FN(nn_attention_backward)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                               const uint8_t *drop, const real *q, const real *k, const real *v,
                               const nn_attn_dims *d)
{
    int B = d->B, H = d->H;
    size_t work = (size_t)B * H * d->Tq * d->Tk * d->hd;
    /* A gradient shared across the batch (batch stride 0) must be summed
     * over b by one thread: then only heads run in parallel. */
    int shared = B > 1 && ((dq && d->q_bs == 0) || (dk && d->k_bs == 0) || (dv && d->v_bs == 0));
    if (shared) {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = malloc(sizeof(real) * (size_t)d->Tk);
#pragma omp for schedule(static)
            for (int h = 0; h < H; h++)
                for (int b = 0; b < B; b++)
                    FN(attn_backward_pair)(dq, dk, dv, dout, att, drop, q, k, v, d, b, h, scratch);
            free(scratch);
        }
    } else {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = malloc(sizeof(real) * (size_t)d->Tk);
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
