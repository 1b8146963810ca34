/* nn/attention_impl.h - scaled-dot-product attention core and the
 * torch.nn.MultiheadAttention wrapper; type-generic body (instantiated by
 * attention.c; see real_begin.h).
 *
 * The projections go through BLAS in nn_linear_*; the per-(batch, head)
 * products are vectorised loops.  One (batch, head) pair is one unit of
 * OpenMP work. */
#include "nn/real_begin.h"

/* Per (batch, head) pair the work is three small matrix products (scores
 * Q K^T, output P V and, in backward, their gradients) around a row
 * softmax.  Head dims here are 10..32, too small for BLAS calls to pay off
 * (and OpenBLAS must not be called from inside OpenMP regions), so they are
 * register-blocked loops on explicit vectors of VL elements (GCC vector
 * extensions): RB query rows at a time, keys along the vector lanes.
 *  - K and V are first copied into contiguous scratch: transposed and
 *    zero-padded to Tkp (a multiple of VL) keys ("Kt[j][s]"), or row-wise
 *    padded to hdp (a multiple of VL) dims ("Vp[s][j]").
 *  - Padded key lanes get an additive -inf, so they drop out of the softmax
 *    like masked keys and carry zero weight everywhere after it.
 *  - A row block past the last query repeats the last row; those rows are
 *    computed but never stored, and get zero weights wherever they would be
 *    summed.
 * The same source is the float op and the double twin (VL 16 or 8). */

typedef real FN(vreal) __attribute__((vector_size(NN_VBYTES)));
#define VL ((int)(NN_VBYTES / sizeof(real)))
#define RB 4

#ifdef NN_DOUBLE
typedef int64_t FN(vint) __attribute__((vector_size(NN_VBYTES)));
#else
typedef int32_t FN(vint) __attribute__((vector_size(NN_VBYTES)));
#endif

/* Lane-wise max (C has no vector ?:, so select through the comparison mask). */
static inline __attribute__((always_inline)) FN(vreal) FN(vmax)(FN(vreal) a, FN(vreal) b)
{
    FN(vint) m = a > b;
    return (FN(vreal))((m & (FN(vint))a) | (~m & (FN(vint))b));
}

/* Horizontal max / sum by halving (64 -> 32 -> 16 bytes, then lanes). */
typedef real FN(vhalf) __attribute__((vector_size(NN_VBYTES / 2)));
typedef real FN(vquarter) __attribute__((vector_size(NN_VBYTES / 4)));
#define HALVE(T, v, lo, hi)                                \
    do {                                                   \
        memcpy(&(lo), &(v), sizeof(T));                    \
        memcpy(&(hi), (const char *)&(v) + sizeof(T), sizeof(T)); \
    } while (0)
static inline __attribute__((always_inline)) real FN(hsum)(FN(vreal) v)
{
    FN(vhalf) a, b;
    HALVE(FN(vhalf), v, a, b);
    a += b;
    FN(vquarter) c, e;
    HALVE(FN(vquarter), a, c, e);
    c += e;
    real s = 0;
    for (int i = 0; i < (int)(sizeof c / sizeof(real)); i++)
        s += c[i];
    return s;
}
static inline __attribute__((always_inline)) real FN(hmax)(FN(vreal) v)
{
    FN(vhalf) a, b;
    HALVE(FN(vhalf), v, a, b);
    for (int i = 0; i < (int)(sizeof a / sizeof(real)); i++)
        a[i] = a[i] > b[i] ? a[i] : b[i];
    real m = a[0];
    for (int i = 1; i < (int)(sizeof a / sizeof(real)); i++)
        m = a[i] > m ? a[i] : m;
    return m;
}
#undef HALVE

static inline __attribute__((always_inline)) FN(vreal) FN(vld)(const real *p)
{
    FN(vreal) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void FN(vst)(real *p, FN(vreal) v)
{
    memcpy(p, &v, sizeof v);
}

#ifdef NN_DOUBLE
static inline __attribute__((always_inline)) FN(vreal) FN(vexp_neg)(FN(vreal) x)
{
    for (int i = 0; i < VL; i++)
        x[i] = exp(x[i]);
    return x;
}
#else
/* exp(x) for x <= 0 on a whole vector (the softmax arguments are shifted by
 * the row maximum): Cody-Waite range reduction and the degree-6 polynomial
 * of Cephes' expf, relative error about 2e-7, exactly 0 below -87 (so
 * -inf, a masked key, gives 0). */
typedef int32_t vint_f __attribute__((vector_size(NN_VBYTES)));
static inline __attribute__((always_inline)) vint_f vsel_f(vint_f m, vint_f a, vint_f b)
{
    return (m & a) | (~m & b);
}
static inline __attribute__((always_inline)) FN(vreal) FN(vexp_neg)(FN(vreal) x)
{
    const float log2e = 1.44269504088896341f, c1 = 0.693359375f, c2 = -2.12194440e-4f;
    const float magic = 12582912.0f;
    FN(vreal) lo = (FN(vreal)){0} - 87.0f;
    vint_f under = x < lo;
    FN(vreal) xc = (FN(vreal))vsel_f(under, (vint_f)lo, (vint_f)x);
    FN(vreal) fx = (xc * log2e + magic) - magic;
    FN(vreal) r = xc - fx * c1 - fx * c2;
    FN(vreal) y = r * 1.9875691500e-4f + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    vint_f bits = (__builtin_convertvector(fx, vint_f) + 127) << 23;
    FN(vreal) res = y * (FN(vreal))bits;
    return (FN(vreal))(~under & (vint_f)res);
}
#endif

/* out[r][0..Tkp) = sum_j a[r][j] * bt[j][0..Tkp) for RB rows (a: RB x hd
 * contiguous), bt [hd][Tkp]. */
static inline __attribute__((always_inline)) void FN(k_rows_bt)(real *out, const real *a, const real *bt,
                                                                int hd, int Tkp)
{
    int c = 0;
    for (; c + 2 * VL <= Tkp; c += 2 * VL) {
        FN(vreal) acc[RB][2];
        memset(acc, 0, sizeof acc);
        for (int j = 0; j < hd; j++) {
            FN(vreal) b0 = FN(vld)(bt + (size_t)j * Tkp + c), b1 = FN(vld)(bt + (size_t)j * Tkp + c + VL);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++) {
                real ar = a[r * hd + j];
                acc[r][0] += ar * b0;
                acc[r][1] += ar * b1;
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            FN(vst)(out + (size_t)r * Tkp + c, acc[r][0]);
            FN(vst)(out + (size_t)r * Tkp + c + VL, acc[r][1]);
        }
    }
    for (; c < Tkp; c += VL) {
        FN(vreal) acc[RB];
        memset(acc, 0, sizeof acc);
        for (int j = 0; j < hd; j++) {
            FN(vreal) b0 = FN(vld)(bt + (size_t)j * Tkp + c);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc[r] += a[r * hd + j] * b0;
        }
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            FN(vst)(out + (size_t)r * Tkp + c, acc[r]);
    }
}

/* o[r][0..hdp) = sum_{s < Tk} w[r][s] * bp[s][0..hdp) for RB rows (w rows of
 * stride Tkp), bp [Tk][hdp].  Even and odd keys go to separate
 * accumulators: 2*RB independent FMA chains hide the FMA latency. */
static inline __attribute__((always_inline)) void FN(k_rows_bp)(real *o, const real *w, const real *bp,
                                                                int Tk, int Tkp, int hdp)
{
    for (int c = 0; c < hdp; c += VL) {
        FN(vreal) acc[RB], acc2[RB];
        memset(acc, 0, sizeof acc);
        memset(acc2, 0, sizeof acc2);
        int s = 0;
        for (; s + 2 <= Tk; s += 2) {
            FN(vreal) b = FN(vld)(bp + (size_t)s * hdp + c), b2 = FN(vld)(bp + (size_t)(s + 1) * hdp + c);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++) {
                acc[r] += w[(size_t)r * Tkp + s] * b;
                acc2[r] += w[(size_t)r * Tkp + s + 1] * b2;
            }
        }
        if (s < Tk) {
            FN(vreal) b = FN(vld)(bp + (size_t)s * hdp + c);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc[r] += w[(size_t)r * Tkp + s] * b;
        }
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            FN(vst)(o + (size_t)r * hdp + c, acc[r] + acc2[r]);
    }
}

/* ct[j][0..Tkp) += sum_r a[r][j] * w[r][0..Tkp) (a: RB x hd contiguous,
 * w rows of stride Tkp), ct [hd][Tkp]. */
static inline __attribute__((always_inline)) void FN(k_rank_update)(real *ct, const real *a, const real *w,
                                                                    int hd, int Tkp)
{
    for (int c = 0; c < Tkp; c += VL) {
        FN(vreal) wv[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            wv[r] = FN(vld)(w + (size_t)r * Tkp + c);
        for (int j = 0; j < hd; j++) {
            FN(vreal) acc = FN(vld)(ct + (size_t)j * Tkp + c);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc += a[r * hd + j] * wv[r];
            FN(vst)(ct + (size_t)j * Tkp + c, acc);
        }
    }
}

/* Additive key mask of sample b: -inf for padded keys and padding lanes. */
static void FN(key_add)(real *kadd, const nn_attn_dims *d, int b, int Tkp)
{
    const uint8_t *pad = d->key_padding ? d->key_padding + (size_t)b * d->Tk : NULL;
    for (int s = 0; s < Tkp; s++)
        kadd[s] = s >= d->Tk || (pad && pad[s]) ? -INFINITY : 0;
}

/* Scores row (scaled, from k_rows_bt) -> exp(score - max) in place, with
 * the additive masks.  Returns 1/sum of the row (0, row zeroed, when every
 * key is masked); the caller normalises (p * 1/sum) only where the
 * probabilities themselves are needed, otherwise it scales the output row. */
static inline __attribute__((always_inline)) real FN(softmax_row)(real *p, const real *kadd, const float *am,
                                                                  int Tk, int Tkp)
{
    if (am)
        for (int s = 0; s < Tk; s++)
            p[s] += (real)am[s];
    FN(vreal) vmx = (FN(vreal)){0} - INFINITY;
    for (int s = 0; s < Tkp; s += VL) {
        FN(vreal) v = FN(vld)(p + s) + FN(vld)(kadd + s);
        FN(vst)(p + s, v);
        vmx = FN(vmax)(v, vmx);
    }
    const real mx = FN(hmax)(vmx);
    if (mx == -INFINITY) {
        memset(p, 0, sizeof(real) * (size_t)Tkp);
        return 0;
    }
    /* exp(-inf - mx) is exactly 0: masked keys drop out without a branch */
    FN(vreal) vsum = {0};
    for (int s = 0; s < Tkp; s += VL) {
        FN(vreal) e = FN(vexp_neg)(FN(vld)(p + s) - mx);
        FN(vst)(p + s, e);
        vsum += e;
    }
    return 1 / FN(hsum)(vsum);
}

static inline __attribute__((always_inline)) void FN(scale_row)(real *p, real k, int Tkp)
{
    for (int s = 0; s < Tkp; s += VL)
        FN(vst)(p + s, FN(vld)(p + s) * k);
}

static real FN(attn_scale)(const nn_attn_dims *d)
{
    return d->scale > 0 ? (real)d->scale : (real)(1.0 / sqrt((double)d->hd));
}

static int FN(round_up)(int n)
{
    return (n + VL - 1) / VL * VL;
}

/* Rows t0 .. t0+RB-1 (clamped to Tq-1) of a strided [Tq, hd] operand into
 * a contiguous RB x hd block, times `mul`. */
static inline __attribute__((always_inline)) void FN(load_rows)(real *dst, const real *src, long ts, int t0,
                                                                int Tq, int hd, real mul)
{
    for (int r = 0; r < RB; r++) {
        int t = t0 + r < Tq ? t0 + r : Tq - 1;
        for (int j = 0; j < hd; j++)
            dst[r * hd + j] = src[(size_t)t * ts + j] * mul;
    }
}

/* Pair scratch sizes (in reals). */
static size_t FN(fwd_scratch)(const nn_attn_dims *d)
{
    size_t Tkp = (size_t)FN(round_up)(d->Tk), hdp = (size_t)FN(round_up)(d->hd);
    return (size_t)d->hd * Tkp + (size_t)d->Tk * hdp + Tkp + 2 * RB * Tkp + RB * (size_t)d->hd + RB * hdp +
           2 * VL;
}

/* Forward of one (batch, head) pair. */
NN_HOT static void FN(attn_forward_pair)(real *out, real *att, uint8_t *drop, const real *q,
                                         const real *k, const real *v, const nn_attn_dims *d,
                                         int b, int h, real *scratch)
{
    const int Tq = d->Tq, Tk = d->Tk, hd = d->hd, Tkp = FN(round_up)(Tk), hdp = FN(round_up)(hd);
    const real scale = FN(attn_scale)(d);
    const size_t hoff = (size_t)h * hd, pair = (size_t)b * d->H + h;
    real *Kt = scratch, *Vp = Kt + (size_t)hd * Tkp, *kadd = Vp + (size_t)Tk * hdp;
    real *S = kadd + Tkp, *W = S + (size_t)RB * Tkp, *A = W + (size_t)RB * Tkp, *O = A + RB * hd;
    const real *kb = k + (size_t)b * d->k_bs + hoff, *vb = v + (size_t)b * d->v_bs + hoff;
    memset(Kt, 0, sizeof(real) * (size_t)hd * Tkp);
    memset(Vp, 0, sizeof(real) * (size_t)Tk * hdp);
    for (int s = 0; s < Tk; s++)
        for (int j = 0; j < hd; j++) {
            Kt[(size_t)j * Tkp + s] = kb[(size_t)s * d->k_ts + j];
            Vp[(size_t)s * hdp + j] = vb[(size_t)s * d->v_ts + j];
        }
    FN(key_add)(kadd, d, b, Tkp);
    const real *qb = q + (size_t)b * d->q_bs + hoff;
    real *ob = out + (size_t)b * d->o_bs + hoff;
    const real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    const uint64_t stream = nn_dropout_stream(d->seed), thr = nn_keep_threshold(d->dropout);
    for (int t0 = 0; t0 < Tq; t0 += RB) {
        const int nr = Tq - t0 < RB ? Tq - t0 : RB;
        FN(load_rows)(A, qb, d->q_ts, t0, Tq, hd, scale);
        FN(k_rows_bt)(S, A, Kt, hd, Tkp);
        real inv[RB] = {0};
        for (int r = 0; r < nr; r++) {
            const int t = t0 + r;
            real *p = S + (size_t)r * Tkp, *w = W + (size_t)r * Tkp;
            inv[r] = FN(softmax_row)(p, kadd, d->attn_mask ? d->attn_mask + (size_t)t * Tk : NULL, Tk, Tkp);
            if (att) { /* probabilities wanted: normalise here, the output needs no scaling */
                FN(scale_row)(p, inv[r], Tkp);
                inv[r] = 1;
                memcpy(att + (pair * Tq + t) * Tk, p, sizeof(real) * (size_t)Tk);
            }
            if (d->dropout > 0) { /* the dropped weights go to W, p stays for att */
                uint8_t *dm = drop ? drop + (pair * Tq + t) * Tk : NULL;
                for (int s = 0; s < Tk; s++) {
                    uint8_t keep = (uint8_t)nn_hash_keep(stream, (pair * Tq + t) * Tk + s, thr);
                    if (dm)
                        dm[s] = keep;
                    w[s] = keep ? p[s] * keep_scale : 0;
                }
                for (int s = Tk; s < Tkp; s++)
                    w[s] = 0;
            }
        }
        FN(k_rows_bp)(O, d->dropout > 0 ? W : S, Vp, Tk, Tkp, hdp);
        for (int r = 0; r < nr; r++) {
            real *ot = ob + (size_t)(t0 + r) * d->o_ts;
            for (int j = 0; j < hd; j++)
                ot[j] = O[(size_t)r * hdp + j] * inv[r];
        }
    }
}

/* ---- eval fast path: no probabilities kept, no dropout, no additive mask.
 * Here the QUERIES go along the vector lanes (VL queries per block): the
 * scores of one key for VL queries are one vector, so the softmax over keys
 * is lane-wise (no horizontal reductions), K and V are read in place (no
 * transposed copies) and no lane is wasted on a head dim that is not a
 * multiple of VL.  Only the probabilities would need a transpose to be
 * stored, hence the row-layout kernel above whenever att is wanted. */

/* st[s][lanes] = sum_j k[s][j] * qt[j][lanes] for W consecutive keys. */
static inline __attribute__((always_inline)) void FN(eval_scores)(real *st, const real *qt, const real *kb,
                                                                  long k_ts, int s0, int hd, const int W)
{
    FN(vreal) acc[8];
    memset(acc, 0, sizeof acc);
    for (int j = 0; j < hd; j++) {
        FN(vreal) qv = FN(vld)(qt + (size_t)j * VL);
#pragma GCC unroll 8
        for (int w = 0; w < W; w++)
            acc[w] += kb[(size_t)(s0 + w) * k_ts + j] * qv;
    }
#pragma GCC unroll 8
    for (int w = 0; w < W; w++)
        FN(vst)(st + (size_t)(s0 + w) * VL, acc[w]);
}

/* ot[j][lanes] = inv * sum_s v[s][j] * st[s][lanes] for W consecutive dims. */
static inline __attribute__((always_inline)) void FN(eval_pv)(real *ot, const real *st, const real *vb, long v_ts,
                                                              int Tk, int j0, FN(vreal) inv, const int W)
{
    FN(vreal) acc[8];
    memset(acc, 0, sizeof acc);
    for (int s = 0; s < Tk; s++) {
        FN(vreal) pv = FN(vld)(st + (size_t)s * VL);
        const real *vr = vb + (size_t)s * v_ts + j0;
#pragma GCC unroll 8
        for (int w = 0; w < W; w++)
            acc[w] += vr[w] * pv;
    }
#pragma GCC unroll 8
    for (int w = 0; w < W; w++)
        FN(vst)(ot + (size_t)(j0 + w) * VL, acc[w] * inv);
}

/* scratch: QT [hd][VL], ST [Tk][VL], OT [hd][VL] */
NN_HOT static void FN(attn_forward_pair_eval)(real *out, const real *q, const real *k, const real *v,
                                              const nn_attn_dims *d, int b, int h, real *scratch)
{
    const int Tq = d->Tq, Tk = d->Tk, hd = d->hd;
    const real scale = FN(attn_scale)(d);
    const size_t hoff = (size_t)h * hd;
    const uint8_t *pad = d->key_padding ? d->key_padding + (size_t)b * Tk : NULL;
    const real *qb = q + (size_t)b * d->q_bs + hoff, *kb = k + (size_t)b * d->k_bs + hoff;
    const real *vb = v + (size_t)b * d->v_bs + hoff;
    real *ob = out + (size_t)b * d->o_bs + hoff;
    real *QT = scratch, *ST = QT + (size_t)hd * VL, *OT = ST + (size_t)Tk * VL;
    int alive = 0;
    for (int s = 0; s < Tk; s++)
        alive |= !pad || !pad[s];
    for (int t0 = 0; t0 < Tq; t0 += VL) {
        const int nq = Tq - t0 < VL ? Tq - t0 : VL;
        if (!alive) { /* every key masked: zero rows, as in the row kernel */
            for (int i = 0; i < nq; i++)
                memset(ob + (size_t)(t0 + i) * d->o_ts, 0, sizeof(real) * (size_t)hd);
            continue;
        }
        for (int j = 0; j < hd; j++)
            for (int i = 0; i < VL; i++)
                QT[(size_t)j * VL + i] = i < nq ? qb[(size_t)(t0 + i) * d->q_ts + j] * scale : 0;
        int s = 0;
        for (; s + 8 <= Tk; s += 8)
            FN(eval_scores)(ST, QT, kb, d->k_ts, s, hd, 8);
        for (; s < Tk; s++)
            FN(eval_scores)(ST, QT, kb, d->k_ts, s, hd, 1);
        FN(vreal) vmx = (FN(vreal)){0} - INFINITY;
        for (s = 0; s < Tk; s++) {
            if (pad && pad[s])
                FN(vst)(ST + (size_t)s * VL, (FN(vreal)){0} - INFINITY);
            else
                vmx = FN(vmax)(vmx, FN(vld)(ST + (size_t)s * VL));
        }
        FN(vreal) vsum = {0};
        for (s = 0; s < Tk; s++) {
            FN(vreal) e = FN(vexp_neg)(FN(vld)(ST + (size_t)s * VL) - vmx);
            FN(vst)(ST + (size_t)s * VL, e);
            vsum += e;
        }
        const FN(vreal) inv = 1 / vsum;
        int j = 0;
        for (; j + 8 <= hd; j += 8)
            FN(eval_pv)(OT, ST, vb, d->v_ts, Tk, j, inv, 8);
        for (; j + 2 <= hd; j += 2)
            FN(eval_pv)(OT, ST, vb, d->v_ts, Tk, j, inv, 2);
        for (; j < hd; j++)
            FN(eval_pv)(OT, ST, vb, d->v_ts, Tk, j, inv, 1);
        for (int i = 0; i < nq; i++) {
            real *ot = ob + (size_t)(t0 + i) * d->o_ts;
            for (j = 0; j < hd; j++)
                ot[j] = OT[(size_t)j * VL + i];
        }
    }
}

void FN(nn_attention_forward)(real *out, real *att, uint8_t *drop, const real *q,
                              const real *k, const real *v, const nn_attn_dims *d)
{
    int B = d->B, H = d->H, npair = B * H;
    size_t work = (size_t)npair * d->Tq * d->Tk * d->hd;
    const int eval = !att && !(d->dropout > 0) && !d->attn_mask;
    size_t nscratch = eval ? ((size_t)2 * d->hd + d->Tk) * VL : FN(fwd_scratch)(d);
#pragma omp parallel if (work > NN_PAR_MIN)
    {
        real *scratch = bs_alloc_aligned(sizeof(real) * nscratch);
#pragma omp for schedule(static)
        for (int ph = 0; ph < npair; ph++) {
            if (eval)
                FN(attn_forward_pair_eval)(out, q, k, v, d, ph / H, ph % H, scratch);
            else
                FN(attn_forward_pair)(out, att, drop, q, k, v, d, ph / H, ph % H, scratch);
        }
        free(scratch);
    }
}

static size_t FN(bwd_scratch)(const nn_attn_dims *d)
{
    size_t Tkp = (size_t)FN(round_up)(d->Tk), hdp = (size_t)FN(round_up)(d->hd), hd = (size_t)d->hd;
    return 3 * hd * Tkp + (size_t)d->Tk * hdp + 3 * RB * Tkp + 2 * RB * hd + RB * hdp + 2 * VL;
}

/* Backward of one (batch, head) pair; accumulates into dq, dk, dv. */
NN_HOT static void FN(attn_backward_pair)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                                          const uint8_t *drop, const real *q, const real *k, const real *v,
                                          const nn_attn_dims *d, int b, int h, real *scratch)
{
    const int Tq = d->Tq, Tk = d->Tk, hd = d->hd, Tkp = FN(round_up)(Tk), hdp = FN(round_up)(hd);
    const real scale = FN(attn_scale)(d);
    const real keep_scale = d->dropout > 0 ? (real)(1.0 / (1.0 - (double)d->dropout)) : 1;
    const size_t hoff = (size_t)h * hd, pair = (size_t)b * d->H + h, plane = (size_t)hd * Tkp;
    real *Vt = scratch, *dKt = Vt + plane, *dVt = dKt + plane, *Kp = dVt + plane;
    real *DP = Kp + (size_t)Tk * hdp, *PD = DP + (size_t)RB * Tkp, *DS = PD + (size_t)RB * Tkp;
    real *G = DS + (size_t)RB * Tkp, *A = G + RB * hd, *O = A + RB * hd;
    const real *kb = k + (size_t)b * d->k_bs + hoff, *vb = v + (size_t)b * d->v_bs + hoff;
    memset(Vt, 0, sizeof(real) * 3 * plane);
    memset(Kp, 0, sizeof(real) * (size_t)Tk * hdp);
    for (int s = 0; s < Tk; s++)
        for (int j = 0; j < hd; j++) {
            Vt[(size_t)j * Tkp + s] = vb[(size_t)s * d->v_ts + j];
            Kp[(size_t)s * hdp + j] = kb[(size_t)s * d->k_ts + j];
        }
    const real *qb = q + (size_t)b * d->q_bs + hoff;
    const real *gb = dout + (size_t)b * d->o_bs + hoff;
    real *dqb = dq ? dq + (size_t)b * d->q_bs + hoff : NULL;
    for (int t0 = 0; t0 < Tq; t0 += RB) {
        const int nr = Tq - t0 < RB ? Tq - t0 : RB;
        /* out_t = sum_s pd_s v_s with pd_s = p_s * keep_s * keep_scale:
         * dpd_s = <g_t, v_s>; dp_s = dpd_s * keep_s * keep_scale */
        FN(load_rows)(G, gb, d->o_ts, t0, Tq, hd, 1);
        FN(k_rows_bt)(DP, G, Vt, hd, Tkp);
        for (int r = 0; r < RB; r++) {
            real *dp = DP + (size_t)r * Tkp, *pd = PD + (size_t)r * Tkp, *ds = DS + (size_t)r * Tkp;
            memset(pd, 0, sizeof(real) * (size_t)Tkp);
            if (r >= nr) { /* padding row: no weight anywhere */
                memset(ds, 0, sizeof(real) * (size_t)Tkp);
                continue;
            }
            const size_t row = (pair * Tq + t0 + r) * Tk;
            memcpy(pd, att + row, sizeof(real) * (size_t)Tk);
            /* p stays in ds for the softmax backward; pd becomes the dropped weights */
            memcpy(ds, pd, sizeof(real) * (size_t)Tkp);
            if (d->dropout > 0)
                for (int s = 0; s < Tk; s++) {
                    real ks = drop[row + s] ? keep_scale : 0;
                    dp[s] *= ks;
                    pd[s] *= ks;
                }
            /* softmax backward, then the scale: ds_s = p_s (dp_s - <p, dp>) * scale */
            FN(vreal) vs = {0};
            for (int s = 0; s < Tkp; s += VL)
                vs += FN(vld)(ds + s) * FN(vld)(dp + s);
            const real sr = FN(hsum)(vs);
            for (int s = 0; s < Tkp; s += VL) {
                FN(vreal) pv = FN(vld)(ds + s);
                FN(vst)(ds + s, pv * (FN(vld)(dp + s) - sr) * scale);
            }
        }
        if (dv)
            FN(k_rank_update)(dVt, G, PD, hd, Tkp);
        if (dqb) {
            FN(k_rows_bp)(O, DS, Kp, Tk, Tkp, hdp);
            for (int r = 0; r < nr; r++) {
                real *dst = dqb + (size_t)(t0 + r) * d->q_ts;
                for (int j = 0; j < hd; j++)
                    dst[j] += O[(size_t)r * hdp + j];
            }
        }
        if (dk) {
            FN(load_rows)(A, qb, d->q_ts, t0, Tq, hd, 1);
            FN(k_rank_update)(dKt, A, DS, hd, Tkp);
        }
    }
    real *dkb = dk ? dk + (size_t)b * d->k_bs + hoff : NULL, *dvb = dv ? dv + (size_t)b * d->v_bs + hoff : NULL;
    for (int s = 0; s < Tk; s++)
        for (int j = 0; j < hd; j++) {
            if (dkb)
                dkb[(size_t)s * d->k_ts + j] += dKt[(size_t)j * Tkp + s];
            if (dvb)
                dvb[(size_t)s * d->v_ts + j] += dVt[(size_t)j * Tkp + s];
        }
}

void FN(nn_attention_backward)(real *dq, real *dk, real *dv, const real *dout, const real *att,
                               const uint8_t *drop, const real *q, const real *k, const real *v,
                               const nn_attn_dims *d)
{
    int B = d->B, H = d->H;
    size_t work = (size_t)B * H * d->Tq * d->Tk * d->hd;
    size_t nscratch = FN(bwd_scratch)(d);
    /* A gradient shared across the batch (batch stride 0) must be summed
     * over b by one thread: then only heads run in parallel. */
    int shared = B > 1 && ((dq && d->q_bs == 0) || (dk && d->k_bs == 0) || (dv && d->v_bs == 0));
    if (shared) {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = bs_alloc_aligned(sizeof(real) * nscratch);
#pragma omp for schedule(static)
            for (int h = 0; h < H; h++)
                for (int b = 0; b < B; b++)
                    FN(attn_backward_pair)(dq, dk, dv, dout, att, drop, q, k, v, d, b, h, scratch);
            free(scratch);
        }
    } else {
#pragma omp parallel if (work > NN_PAR_MIN)
        {
            real *scratch = bs_alloc_aligned(sizeof(real) * nscratch);
#pragma omp for schedule(static)
            for (int ph = 0; ph < B * H; ph++)
                FN(attn_backward_pair)(dq, dk, dv, dout, att, drop, q, k, v, d, ph / H, ph % H,
                                       scratch);
            free(scratch);
        }
    }
}

#undef VL
#undef RB

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
