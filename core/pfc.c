/* pfc.c - pseudo-functional connectivity: validation, sampling, Gram algebra.
 *
 * Notation (docs/pfc.md): Y = X - mean(X) (float32, T x R), G = Y'Y and
 * S = sum_t y_t in double.  For a sample keeping m of T points, with
 * selected set Q (the smaller of kept K and dropped D, |Q| = s) and shift
 * c = mean_Q(y) rounded to float:
 *     U = Y_Q - c (float), Gu = U'U (float, ssyrk), su = sum U (double)
 *   Q = K:  C = Gu - su su'/m
 *   Q = D:  G_D = Gu + c su' + su c' + s c c',  s_K = S - su - s c,
 *           C = G - G_D - s_K s_K'/m
 * and r_ij = C_ij / sqrt(C_ii C_jj).  The float Gram only ever sees rows
 * centred on their own mean, so its rounding scales with the subset's
 * variance, not with offsets; every correction term is in double. */
#include "brainstage/pfc.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "brainstage/rng.h"
#include "brainstage/tensor.h"

struct bs_pfc_generator {
    int64_t T, R;
    bs_pfc_options opt;
    char *name;
    float *Y;        /* T x R, centred on the full mean */
    double *G;       /* R x R, upper triangle: Y'Y in double */
    double *S;       /* R: column sums of Y (≈ 0, kept for exactness) */
    int64_t n_constant;
    int64_t position;
    struct pfc_work **work; /* per-thread scratch, kept across calls */
    int n_work;
    int reseed_ok;          /* derived_seed() reproduces bs_rng_derive (checked) */
};

/* Per-thread scratch for one sample at a time. */
typedef struct pfc_work {
    bs_rng *rng;
    int32_t *idx, *sel;
    uint8_t *mark;
    float *Z, *Gu, *c;
    double *sum, *su, *a, *b, *e, *f, *inv;
    uint8_t *degenerate;
} pfc_work;

void bs_pfc_options_default(bs_pfc_options *o)
{
    memset(o, 0, sizeof *o);
    o->keep_min = o->keep_max = 0.8;
    o->mode = BS_PFC_INDIVIDUAL;
    o->constant_roi = BS_PFC_CONSTANT_ERROR;
}

static void work_free(struct pfc_work *w);
static int reseed_matches_derive(uint64_t seed);

void bs_pfc_generator_free(bs_pfc_generator *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_work; i++)
        work_free(g->work[i]);
    free(g->work);
    bs_free(g->Y);
    bs_free(g->G);
    bs_free(g->S);
    free(g->name);
    free(g);
}

int64_t bs_pfc_generator_rois(const bs_pfc_generator *g) { return g ? g->R : 0; }
int64_t bs_pfc_generator_timepoints(const bs_pfc_generator *g) { return g ? g->T : 0; }
int64_t bs_pfc_generator_constant_rois(const bs_pfc_generator *g) { return g ? g->n_constant : 0; }
int64_t bs_pfc_tell(const bs_pfc_generator *g) { return g ? g->position : 0; }

void bs_pfc_seek(bs_pfc_generator *g, int64_t position)
{
    if (g && position >= 0)
        g->position = position;
}

void bs_pfc_set_seed(bs_pfc_generator *g, uint64_t seed)
{
    if (g) {
        g->opt.seed = seed;
        g->position = 0;
        g->reseed_ok = reseed_matches_derive(seed);
    }
}

static int32_t kept_count_for(const bs_pfc_generator *g, double fraction)
{
    long long m = llround(fraction * (double)g->T);
    if (m < BS_PFC_MIN_KEPT)
        m = BS_PFC_MIN_KEPT;
    if (m > g->T)
        m = g->T;
    return (int32_t)m;
}

/* Sample i's stream is bs_rng_derive(seed, i).  Allocating and seeding a
 * fresh Mersenne Twister per sample costs as much as a quarter of a small
 * pFC, so the workers instead reseed one generator each with the seed that
 * bs_rng_derive uses.  That formula belongs to rng.c, so it is verified at
 * start-up against bs_rng_derive itself; if it ever differs, every sample
 * falls back to bs_rng_derive and results stay the same. */
static uint64_t derived_seed(uint64_t seed, uint64_t stream)
{
    return bs_splitmix64(seed) ^ bs_splitmix64(stream + 0x632be59bd9b4e019ULL);
}

static int reseed_matches_derive(uint64_t seed)
{
    static const uint64_t streams[] = {0, 1, 977, 123456789};
    int ok = 1;
    bs_rng *mine = bs_rng_new(0);
    for (size_t k = 0; mine && ok && k < sizeof streams / sizeof *streams; k++) {
        bs_rng *ref = bs_rng_derive(seed, streams[k]);
        bs_rng_reseed(mine, derived_seed(seed, streams[k]));
        for (int d = 0; ref && ok && d < 8; d++)
            ok = bs_rng_uniform_int(ref, 1000003) == bs_rng_uniform_int(mine, 1000003);
        ok = ok && ref;
        bs_rng_free(ref);
    }
    bs_rng_free(mine);
    return ok && mine;
}

bs_pfc_generator *bs_pfc_generator_new(const float *ts, int64_t T, int64_t R, const bs_pfc_options *opt,
                                       const char *name, bs_error *err)
{
    if (!name)
        name = "timeseries";
    if (!ts || !opt || T <= 0 || R <= 0 || T > INT32_MAX || R > INT32_MAX) {
        bs_error_set(err, BS_ERR_USAGE, "%s: pfc needs a non-empty T x R time series (got %lld x %lld)", name,
                     (long long)T, (long long)R);
        return NULL;
    }
    if (!(opt->keep_min > 0.0 && opt->keep_min <= opt->keep_max && opt->keep_max <= 1.0)) {
        bs_error_set(err, BS_ERR_USAGE, "%s: pfc keep fractions must satisfy 0 < keep_min <= keep_max <= 1 (got %g, %g)",
                     name, opt->keep_min, opt->keep_max);
        return NULL;
    }
    if (opt->mode != BS_PFC_INDIVIDUAL && opt->mode != BS_PFC_BLOCK) {
        bs_error_set(err, BS_ERR_USAGE, "%s: pfc mode %d unknown", name, (int)opt->mode);
        return NULL;
    }
    long long min_kept = llround(opt->keep_min * (double)T);
    if (min_kept < BS_PFC_MIN_KEPT) {
        bs_error_set(err, BS_ERR_DATA,
                     "%s: keep_min=%g of T=%lld time points keeps %lld; a pFC needs at least %d kept points "
                     "(use a longer series or a larger keep)",
                     name, opt->keep_min, (long long)T, min_kept, BS_PFC_MIN_KEPT);
        return NULL;
    }
    size_t TR;
    if (!bs_mul_size((size_t)T, (size_t)R, &TR) || TR > SIZE_MAX / sizeof(double)) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: %lld x %lld time series too large", name, (long long)T, (long long)R);
        return NULL;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < R; j++)
            if (!isfinite(ts[t * R + j])) {
                bs_error_set(err, BS_ERR_NUMERIC, "%s: time point %lld, ROI %lld: value is %s; pfc needs finite data",
                             name, (long long)t, (long long)j, isnan(ts[t * R + j]) ? "NaN" : "infinite");
                return NULL;
            }

    bs_pfc_generator *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    g->T = T;
    g->R = R;
    g->opt = *opt;
    g->Y = bs_alloc_floats(TR);
    g->G = bs_alloc_aligned((size_t)R * (size_t)R * sizeof(double));
    g->S = bs_alloc_aligned((size_t)R * sizeof(double));
    double *Yd = bs_alloc_aligned(TR * sizeof(double));
    double *mu = bs_alloc_aligned((size_t)R * sizeof(double));
    if (!g->Y || !g->G || !g->S || !Yd || !mu) {
        bs_free(Yd);
        bs_free(mu);
        bs_pfc_generator_free(g);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for a %lld x %lld pFC generator", name, (long long)T,
                     (long long)R);
        return NULL;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < R; j++)
            mu[j] += ts[t * R + j];
    for (int64_t j = 0; j < R; j++)
        mu[j] /= (double)T;
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < R; j++) {
            float y = (float)((double)ts[t * R + j] - mu[j]);
            g->Y[t * R + j] = y;
            Yd[t * R + j] = y; /* the exact float values, so G matches what samples see */
            g->S[j] += y;
        }
    /* Once per series, in double: products of floats are exact in double. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)R, (int)T, 1.0, Yd, (int)R, 0.0, g->G, (int)R);
    bs_free(Yd);
    bs_free(mu);

    for (int64_t j = 0; j < R; j++)
        if (g->G[j * R + j] == 0.0) {
            /* A constant column centres to exact zeros, so this test is exact. */
            if (opt->constant_roi == BS_PFC_CONSTANT_ERROR) {
                bs_error_set(err, BS_ERR_NUMERIC,
                             "%s: ROI %lld is constant over all %lld time points, so its correlations are "
                             "undefined (constant=zero gives it a zero row and column)",
                             name, (long long)j, (long long)T);
                bs_pfc_generator_free(g);
                return NULL;
            }
            g->n_constant++;
        }
    g->reseed_ok = reseed_matches_derive(opt->seed);
    return g;
}

/* ---- sampling ------------------------------------------------------------- */

typedef struct pfc_draw {
    int32_t m;       /* kept count */
    int32_t s;       /* selected count (sel[0..s), ascending) */
    int sel_is_kept; /* else sel holds the dropped points */
} pfc_draw;

/* scratch: a worker's generator to reseed, or NULL to derive a fresh one. */
static int draw_sample(const bs_pfc_generator *g, int64_t sample, bs_rng *scratch, int32_t *idx, uint8_t *mark,
                       int32_t *sel, pfc_draw *d)
{
    bs_rng *rng;
    if (scratch && g->reseed_ok) {
        rng = scratch;
        bs_rng_reseed(rng, derived_seed(g->opt.seed, (uint64_t)sample));
    } else if (!(rng = bs_rng_derive(g->opt.seed, (uint64_t)sample))) {
        return BS_ERR_NOMEM;
    }
    const int32_t T = (int32_t)g->T;
    double f = g->opt.keep_min;
    if (g->opt.keep_max > g->opt.keep_min)
        f += (g->opt.keep_max - g->opt.keep_min) * bs_rng_uniform(rng);
    d->m = kept_count_for(g, f);
    const int32_t k = T - d->m;
    d->sel_is_kept = d->m <= k;
    d->s = d->sel_is_kept ? d->m : k;
    if (g->opt.mode == BS_PFC_INDIVIDUAL) {
        /* The complement of a uniform subset is uniform, so drawing the
         * smaller set directly keeps the cost O(T + s). */
        for (int32_t t = 0; t < T; t++)
            idx[t] = t;
        bs_rng_partial_shuffle(rng, idx, T, d->s);
        memset(mark, 0, (size_t)g->T);
        for (int32_t r = 0; r < d->s; r++)
            mark[idx[r]] = 1;
        int32_t n = 0;
        for (int32_t t = 0; t < T; t++)
            if (mark[t])
                sel[n++] = t;
    } else {
        int32_t start = (int32_t)bs_rng_uniform_int(rng, (uint64_t)(T - d->m + 1));
        int32_t n = 0;
        for (int32_t t = 0; t < T; t++) {
            int in_block = t >= start && t < start + d->m;
            if (in_block == d->sel_is_kept)
                sel[n++] = t;
        }
    }
    if (rng != scratch)
        bs_rng_free(rng);
    return BS_OK;
}

static void work_free(struct pfc_work *w)
{
    if (!w)
        return;
    bs_rng_free(w->rng);
    free(w->idx);
    free(w->sel);
    free(w->mark);
    bs_free(w->Z);
    bs_free(w->Gu);
    bs_free(w->c);
    bs_free(w->sum);
    bs_free(w->su);
    bs_free(w->a);
    bs_free(w->b);
    bs_free(w->e);
    bs_free(w->f);
    bs_free(w->inv);
    free(w->degenerate);
    free(w);
}

static pfc_work *work_new(const bs_pfc_generator *g)
{
    pfc_work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    size_t T = (size_t)g->T, R = (size_t)g->R;
    size_t zrows = T / 2 + 1; /* the selected set is never larger than half */
    w->rng = bs_rng_new(0);
    w->idx = malloc(T * sizeof *w->idx);
    w->sel = malloc(T * sizeof *w->sel);
    w->mark = malloc(T);
    w->Z = bs_alloc_floats(zrows * R);
    w->Gu = bs_alloc_floats(R * R);
    w->c = bs_alloc_floats(R);
    w->sum = bs_alloc_aligned(R * sizeof(double));
    w->su = bs_alloc_aligned(R * sizeof(double));
    w->a = bs_alloc_aligned(R * sizeof(double));
    w->b = bs_alloc_aligned(R * sizeof(double));
    w->e = bs_alloc_aligned(R * sizeof(double));
    w->f = bs_alloc_aligned(R * sizeof(double));
    w->inv = bs_alloc_aligned(R * sizeof(double));
    w->degenerate = malloc(R);
    if (!w->rng || !w->idx || !w->sel || !w->mark || !w->Z || !w->Gu || !w->c || !w->sum || !w->su || !w->a || !w->b ||
        !w->e || !w->f || !w->inv || !w->degenerate) {
        work_free(w);
        return NULL;
    }
    return w;
}


/* The per-sample O(R^2) work is as large as the Gram itself at small R, so
 * it gets wide-vector clones; the dispatcher picks one per machine, so
 * results are identical for every thread count on a given machine. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define PFC_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PFC_HOT
#endif

/* Copies the upper triangle of an R x R row-major matrix into the lower, in
 * tiles that stay in L1; each lower row segment is written contiguously
 * (the strided side is the reads, which cost no ownership traffic). */
PFC_HOT static void mirror_upper(float *m, int64_t R)
{
    enum { TILE = 32 };
    for (int64_t jb = 0; jb < R; jb += TILE)
        for (int64_t ib = 0; ib <= jb; ib += TILE) {
            const int64_t je = jb + TILE < R ? jb + TILE : R;
            for (int64_t j = jb; j < je; j++) {
                const int64_t ie = ib + TILE < j ? ib + TILE : j; /* i < j: strictly lower */
                float *restrict mj = m + j * R;
                const float *restrict col = m + j;
#pragma omp simd
                for (int64_t i = ib; i < ie; i++)
                    mj[i] = col[i * R];
            }
        }
}

PFC_HOT static int compute_one(const bs_pfc_generator *g, int64_t sample, pfc_work *w, float *out)
{
    pfc_draw d;
    if (draw_sample(g, sample, w->rng, w->idx, w->mark, w->sel, &d) != BS_OK)
        return BS_ERR_NOMEM;
    const int64_t R = g->R;
    const int32_t s = d.s;
    const double m = (double)d.m;

    /* Gather the selected rows, centred on their own mean. */
    double *restrict sum = w->sum, *restrict su = w->su;
    float *restrict cf = w->c;
    memset(sum, 0, (size_t)R * sizeof(double));
    for (int32_t r = 0; r < s; r++) {
        const float *restrict y = g->Y + (int64_t)w->sel[r] * R;
#pragma omp simd
        for (int64_t j = 0; j < R; j++)
            sum[j] += y[j];
    }
    for (int64_t j = 0; j < R; j++)
        cf[j] = s ? (float)(sum[j] / s) : 0.0f;
    memset(su, 0, (size_t)R * sizeof(double));
    for (int32_t r = 0; r < s; r++) {
        const float *restrict y = g->Y + (int64_t)w->sel[r] * R;
        float *restrict z = w->Z + (int64_t)r * R;
#pragma omp simd
        for (int64_t j = 0; j < R; j++) {
            z[j] = y[j] - cf[j];
            su[j] += z[j];
        }
    }
    if (s > 0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)R, s, 1.0f, w->Z, (int)R, 0.0f, w->Gu, (int)R);
    else
        memset(w->Gu, 0, (size_t)(R * R) * sizeof(float));

    /* C_ij = base_ij - Gu_ij*sign - (a_i b_j + b_i a_j ...): written per path
     * as C_ij = P_ij - (a_i e_j + e_i a_j) - b_i f_j with double vectors. */
    const double *restrict G = g->G;
    const float *Gu = w->Gu;
    double *restrict a = w->a, *restrict b = w->b, *restrict e = w->e, *restrict f = w->f, *restrict inv = w->inv;
    if (d.sel_is_kept) {
        /* C = Gu - su su'/m */
        for (int64_t j = 0; j < R; j++) {
            b[j] = w->su[j];
            f[j] = w->su[j] / m;
        }
    } else {
        /* C = G - Gu - c su' - su c' - s c c' - sK sK'/m, sK = S - su - s c.
         * Write c su' + su c' + s c c' = c (su + s c/2)' + (su + s c/2) c'. */
        for (int64_t j = 0; j < R; j++) {
            double cj = w->c[j];
            a[j] = cj;
            e[j] = w->su[j] + 0.5 * s * cj;
            b[j] = g->S[j] - w->su[j] - s * cj; /* sK */
            f[j] = b[j] / m;
        }
    }
    const int downdate = !d.sel_is_kept;
    const double var_scale = BS_PFC_DEGENERATE_RATIO * (m - 1.0) / (double)(g->T - 1 > 0 ? g->T - 1 : 1);
    for (int64_t i = 0; i < R; i++) {
        double cii = downdate ? G[i * R + i] - Gu[i * R + i] - 2.0 * a[i] * e[i] - b[i] * f[i]
                              : Gu[i * R + i] - b[i] * f[i];
        double thr = var_scale * G[i * R + i];
        w->degenerate[i] = !(cii > thr);
        inv[i] = w->degenerate[i] ? 0.0 : 1.0 / sqrt(cii);
    }
    const int fisher = g->opt.fisher;
    const float rmax = fisher ? 0.99999994f : 1.0f; /* largest float below 1 keeps atanh finite */
    /* Correlations overwrite Gu in place (it is hot in cache), the lower
     * triangle is mirrored there, and the result leaves in one sequential
     * copy: strided writes straight into a cold output cost more than the
     * Gram itself at small R. */
    for (int64_t i = 0; i < R; i++) {
        float *o = w->Gu + i * R;
        const double *restrict Gi = G + i * R;
        const float *Gui = w->Gu + i * R;
        const double ai = a[i], ei = e[i], bi = b[i], invi = inv[i];
        if (downdate) {
#pragma omp simd
            for (int64_t j = i + 1; j < R; j++) {
                double cij = Gi[j] - (double)Gui[j] - (ai * e[j] + ei * a[j]) - bi * f[j];
                float r = (float)(cij * invi * inv[j]);
                r = r > rmax ? rmax : r;
                o[j] = r < -rmax ? -rmax : r;
            }
        } else {
#pragma omp simd
            for (int64_t j = i + 1; j < R; j++) {
                double cij = (double)Gui[j] - bi * f[j];
                float r = (float)(cij * invi * inv[j]);
                r = r > rmax ? rmax : r;
                o[j] = r < -rmax ? -rmax : r;
            }
        }
        if (fisher)
            for (int64_t j = i + 1; j < R; j++)
                o[j] = atanhf(o[j]);
        o[i] = (w->degenerate[i] || fisher) ? 0.0f : 1.0f;
    }
    mirror_upper(w->Gu, R);
    memcpy(out, w->Gu, (size_t)(R * R) * sizeof(float));
    return BS_OK;
}

int bs_pfc_compute(bs_pfc_generator *g, int64_t first, int64_t n, float *out, bs_error *err)
{
    if (!g || !out || first < 0 || n < 0)
        return bs_error_set(err, BS_ERR_USAGE, "pfc: bad arguments to bs_pfc_compute");
    if (n == 0)
        return BS_OK;
    int threads = g->opt.threads > 0 ? g->opt.threads : 1;
#ifdef _OPENMP
    if (g->opt.threads <= 0)
        threads = omp_get_max_threads();
#endif
    if (threads > n)
        threads = (int)n;
    /* Each sample is one single-threaded ssyrk: the split over samples is
     * the parallelism, and BLAS threads inside it would oversubscribe.  The
     * same single-threaded kernel runs whatever our thread count is, so
     * results do not depend on it. */
#ifdef OPENBLAS_VERSION
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#endif
    const int64_t RR = g->R * g->R;
    if (threads > g->n_work) {
        /* Scratch persists across calls: large blocks come from mmap, and
         * re-faulting them for every batch would cost as much as the work. */
        pfc_work **grown = realloc(g->work, (size_t)threads * sizeof *grown);
        if (!grown) {
#ifdef OPENBLAS_VERSION
            openblas_set_num_threads(blas_threads);
#endif
            return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", g->name);
        }
        for (int i = g->n_work; i < threads; i++)
            grown[i] = NULL;
        g->work = grown;
        g->n_work = threads;
    }
    int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        if (!g->work[tid])
            g->work[tid] = work_new(g);
        pfc_work *w = g->work[tid];
        if (!w) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop || !w)
                continue;
            if (compute_one(g, first + i, w, out + i * RR) != BS_OK) {
#pragma omp atomic write
                failed = 1;
            }
        }
    }
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(blas_threads);
#endif
    if (failed)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory computing pFC samples", g->name);
    return BS_OK;
}

int bs_pfc_next_batch(bs_pfc_generator *g, int64_t n, float *out, bs_error *err)
{
    if (!g)
        return bs_error_set(err, BS_ERR_USAGE, "pfc: NULL generator");
    int rc = bs_pfc_compute(g, g->position, n, out, err);
    if (rc == BS_OK)
        g->position += n;
    return rc;
}

int bs_pfc_kept_indices(const bs_pfc_generator *g, int64_t sample, int32_t *kept, int32_t *n_kept, bs_error *err)
{
    if (!g || !kept || !n_kept || sample < 0)
        return bs_error_set(err, BS_ERR_USAGE, "pfc: bad arguments to bs_pfc_kept_indices");
    const int32_t T = (int32_t)g->T;
    int32_t *idx = malloc((size_t)T * sizeof *idx), *sel = malloc((size_t)T * sizeof *sel);
    uint8_t *mark = malloc((size_t)T);
    pfc_draw d;
    int rc = (idx && sel && mark) ? draw_sample(g, sample, NULL, idx, mark, sel, &d) : BS_ERR_NOMEM;
    if (rc == BS_OK) {
        if (d.sel_is_kept) {
            memcpy(kept, sel, (size_t)d.s * sizeof *kept);
        } else {
            memset(mark, 1, (size_t)T);
            for (int32_t r = 0; r < d.s; r++)
                mark[sel[r]] = 0;
            int32_t n = 0;
            for (int32_t t = 0; t < T; t++)
                if (mark[t])
                    kept[n++] = t;
        }
        *n_kept = d.m;
    }
    free(idx);
    free(sel);
    free(mark);
    if (rc != BS_OK)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory drawing sample %lld", g->name, (long long)sample);
    return BS_OK;
}
