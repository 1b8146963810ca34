/* core/brainmass/bm_finetune_train.c - training data (runs -> full-run FC
 * and pFC view generators) and the fine-tuning loop: seeded shuffles,
 * minibatches, pFC augmentation, optional early stopping on a stratified
 * validation share, and per-subject prediction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/fc.h"
#include "brainstage/log.h"
#include "brainstage/pfc.h"
#include "brainstage/rng.h"
#include "brainstage/tensor.h"
#include "bm_finetune_internal.h"

/* ---- data ---- */

void bs_finetune_data_free(bs_finetune_data *d)
{
    if (!d)
        return;
    if (d->pfc)
        for (int64_t u = 0; u < d->n_runs; u++)
            bs_pfc_generator_free(d->pfc[u]);
    free(d->pfc);
    free(d->subject);
    bs_free(d->fc);
    memset(d, 0, sizeof *d);
}

static int data_alloc(bs_finetune_data *d, int64_t n_runs, int R, bs_error *err)
{
    memset(d, 0, sizeof *d);
    d->rois = R;
    d->n_runs = n_runs;
    d->subject = malloc(sizeof(int32_t) * (size_t)(n_runs > 0 ? n_runs : 1));
    d->fc = bs_alloc_floats((size_t)n_runs * R * R);
    if (!d->subject || !d->fc) {
        bs_finetune_data_free(d);
        return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory for %lld FC matrices", (long long)n_runs);
    }
    return BS_OK;
}

int bs_finetune_data_from_fc(const float *fc, int64_t n, int R, bs_finetune_data *out, bs_error *err)
{
    if (n < 1 || R < 2)
        return bs_error_set(err, BS_ERR_DATA, "finetune: %lld FC matrices of %d ROIs: need at least one of 2 ROIs",
                            (long long)n, R);
    int rc = data_alloc(out, n, R, err);
    if (rc)
        return rc;
    out->n_subjects = n;
    for (int64_t i = 0; i < n; i++)
        out->subject[i] = (int32_t)i;
    memcpy(out->fc, fc, sizeof(float) * (size_t)n * R * R);
    if (bm_check_finite(out->fc, (size_t)n * R * R, "FC input", err)) {
        bs_finetune_data_free(out);
        return err ? err->code : BS_ERR_NUMERIC;
    }
    return BS_OK;
}

/* An ROI with any non-finite sample becomes all zeros (its FC and pFC rows
 * are then 0, the reference's NaN -> 0, as in pretraining and embedding). */
static void zero_bad_rois(float *ts, int64_t T, int R)
{
    for (int c = 0; c < R; c++) {
        int bad = 0;
        for (int64_t t = 0; t < T && !bad; t++)
            bad = !isfinite(ts[t * R + c]);
        if (bad)
            for (int64_t t = 0; t < T; t++)
                ts[t * R + c] = 0.0f;
    }
}

int bs_finetune_data_from_series(int64_t n_runs, const float *const *ts, const int64_t *T, int R,
                                 const int32_t *subject, int64_t n_subjects, double pfc_keep, uint64_t seed,
                                 const char *const *names, bs_finetune_data *out, bs_error *err)
{
    if (n_runs < 1 || R < 2 || n_subjects < 1)
        return bs_error_set(err, BS_ERR_DATA, "finetune: %lld runs of %d ROIs for %lld subjects: nothing to train on",
                            (long long)n_runs, R, (long long)n_subjects);
    int rc = data_alloc(out, n_runs, R, err);
    if (rc)
        return rc;
    out->n_subjects = n_subjects;
    if (pfc_keep > 0 && !(out->pfc = calloc((size_t)n_runs, sizeof *out->pfc))) {
        bs_finetune_data_free(out);
        return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    }
    bs_fc_options fo;
    bs_fc_options_init(&fo);
    const size_t RR = (size_t)R * R;
    for (int64_t u = 0; u < n_runs && rc == BS_OK; u++) {
        const char *name = names && names[u] ? names[u] : "run";
        if (subject[u] < 0 || subject[u] >= n_subjects) {
            rc = bs_error_set(err, BS_ERR_DATA, "finetune: %s: subject index %d outside 0..%lld", name, (int)subject[u],
                              (long long)n_subjects - 1);
            break;
        }
        out->subject[u] = subject[u];
        float *copy = bs_alloc_floats((size_t)T[u] * R);
        if (!copy) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
            break;
        }
        memcpy(copy, ts[u], sizeof(float) * (size_t)T[u] * R);
        zero_bad_rois(copy, T[u], R);
        float *fc = out->fc + (size_t)u * RR;
        rc = bs_fc_compute(copy, T[u], R, &fo, fc, NULL, NULL, err);
        for (size_t k = 0; rc == BS_OK && k < RR; k++)
            if (!isfinite(fc[k]))
                fc[k] = 0.0f;
        if (rc == BS_OK && out->pfc) {
            bs_pfc_options po;
            bs_pfc_options_default(&po);
            po.keep_min = po.keep_max = pfc_keep;
            po.constant_roi = BS_PFC_CONSTANT_ZERO;
            po.seed = bs_splitmix64(seed ^ bs_splitmix64((uint64_t)u + 1));
            po.threads = 1;
            if (!(out->pfc[u] = bs_pfc_generator_new(copy, T[u], R, &po, name, err)))
                rc = err && err->code ? err->code : BS_ERR_DATA;
        }
        bs_free(copy);
    }
    if (rc)
        bs_finetune_data_free(out);
    return rc;
}

/* ---- fitting ---- */

typedef struct item_set {
    int64_t *run;      /* run indices */
    int32_t *label;
    int64_t n;
} item_set;

/* The runs of the subjects with role[s] == want. */
static int collect_items(const bs_finetune_data *d, const int32_t *label_of, const uint8_t *role, uint8_t want,
                         item_set *out)
{
    out->n = 0;
    out->run = malloc(sizeof(int64_t) * (size_t)d->n_runs);
    out->label = malloc(sizeof(int32_t) * (size_t)d->n_runs);
    if (!out->run || !out->label)
        return -1;
    for (int64_t u = 0; u < d->n_runs; u++) {
        int32_t s = d->subject[u];
        if (label_of[s] >= 0 && role[s] == want) {
            out->run[out->n] = u;
            out->label[out->n++] = label_of[s];
        }
    }
    return 0;
}

static void items_free(item_set *s)
{
    free(s->run);
    free(s->label);
}

/* Stratified validation subjects: per class round(fraction * n_c), at
 * least 1 and at most n_c - 1, drawn from a seeded shuffle. */
static int choose_validation(const bs_finetune *ft, const int64_t *subjects, int64_t n, const int32_t *y,
                             uint8_t *role, bs_error *err)
{
    const int C = ft->n_classes;
    int32_t *members = malloc(sizeof(int32_t) * (size_t)n);
    if (!members)
        return bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    int rc = BS_OK;
    for (int c = 0; c < C && rc == BS_OK; c++) {
        int32_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == c)
                members[m++] = (int32_t)i;
        if (m < 2) {
            const char *nm = bs_finetune_class_name(ft, c);
            rc = bs_error_set(err, BS_ERR_DATA,
                              "finetune: early stopping needs at least 2 training subjects of class '%s' (one to "
                              "validate), got %d; use --patience 0",
                              nm ? nm : "?", (int)m);
            break;
        }
        int32_t k = (int32_t)lround(ft->cfg.val_fraction * m);
        k = k < 1 ? 1 : k > m - 1 ? m - 1 : k;
        bs_rng *rng = bs_rng_derive(ft->cfg.seed ^ 0x76616c6964ull, (uint64_t)c);
        bs_rng_partial_shuffle(rng, members, m, k);
        bs_rng_free(rng);
        for (int32_t j = 0; j < k; j++)
            role[subjects[members[j]]] = 2;
    }
    free(members);
    return rc;
}

/* Fills batch[b] with the input of item it[b] for epoch `epoch`: a pFC view
 * (augmentation) or the run's full FC. */
static int fill_batch(const bs_finetune *ft, const bs_finetune_data *d, const item_set *s, const int64_t *order,
                      int64_t first, int B, int64_t epoch, float *fc, int32_t *yb, bs_error *err)
{
    const size_t RR = (size_t)d->rois * d->rois;
    const int64_t draw_base = (int64_t)(bs_splitmix64(ft->cfg.seed ^ 0x70666376ull) >> 24);
    for (int b = 0; b < B; b++) {
        int64_t k = order[first + b], u = s->run[k];
        yb[b] = s->label[k];
        if (ft->cfg.augment == BS_FINETUNE_AUGMENT_PFC) {
            int rc = bs_pfc_compute(d->pfc[u], draw_base + epoch, 1, fc + (size_t)b * RR, err);
            if (rc)
                return rc;
        } else {
            memcpy(fc + (size_t)b * RR, d->fc + (size_t)u * RR, RR * sizeof(float));
        }
    }
    return BS_OK;
}

/* Mean eval-mode cross-entropy of the items (validation). */
static int eval_loss(bs_finetune *ft, const bs_finetune_data *d, const item_set *s, double *loss, bs_error *err)
{
    const size_t RR = (size_t)d->rois * d->rois;
    const int C = ft->n_classes;
    float *fc = bs_alloc_floats((size_t)s->n * RR);
    double *p = malloc(sizeof(double) * (size_t)s->n * C);
    int rc = fc && p ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    for (int64_t i = 0; rc == BS_OK && i < s->n; i++)
        memcpy(fc + (size_t)i * RR, d->fc + (size_t)s->run[i] * RR, RR * sizeof(float));
    if (rc == BS_OK)
        rc = bs_finetune_predict_fc(ft, fc, s->n, p, err);
    double sum = 0;
    for (int64_t i = 0; rc == BS_OK && i < s->n; i++)
        sum -= log(fmax(p[(size_t)i * C + s->label[i]], 1e-300));
    *loss = rc == BS_OK ? sum / (double)s->n : NAN;
    bs_free(fc);
    free(p);
    return rc;
}

/* Weights (and BatchNorm buffers) of the best epoch. */
typedef struct snapshot {
    float *enc, *head;
    int64_t count1, count5;
} snapshot;

static void snap_take(const bs_finetune *ft, snapshot *s)
{
    memcpy(s->enc, ft->enc->params, ft->enc_n * sizeof(float));
    memcpy(s->head, ft->head.data, ft->head.total * sizeof(float));
    s->count1 = ft->count1;
    s->count5 = ft->count5;
}

static void snap_restore(bs_finetune *ft, const snapshot *s)
{
    memcpy(ft->enc->params, s->enc, ft->enc_n * sizeof(float));
    memcpy(ft->head.data, s->head, ft->head.total * sizeof(float));
    ft->count1 = s->count1;
    ft->count5 = s->count5;
}

/* Epoch loop on prepared train (and validation) items. */
static int train_items(bs_finetune *ft, const bs_finetune_data *d, const item_set *tr, const item_set *va,
                       bs_finetune_report *rep, bs_error *err)
{
    const bs_finetune_config *c = &ft->cfg;
    const size_t RR = (size_t)d->rois * d->rois;
    const int maxB = c->batch + 1;
    float *fc = bs_alloc_floats((size_t)maxB * RR);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)maxB);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)tr->n);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)tr->n);
    snapshot snap = {0};
    int early = c->patience > 0;
    if (early) {
        snap.enc = bs_alloc_floats(ft->enc_n);
        snap.head = bs_alloc_floats(ft->head.total);
    }
    int rc = BS_OK;
    if (!fc || !yb || !order || !perm || (early && (!snap.enc || !snap.head)))
        rc = bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    double best = INFINITY;
    for (int e = 0; rc == BS_OK && e < c->epochs; e++) {
        bs_rng *rng = bs_rng_derive(c->seed ^ 0x73687566ull, (uint64_t)e);
        for (int64_t i = 0; i < tr->n; i++)
            perm[i] = (int32_t)i;
        bs_rng_partial_shuffle(rng, perm, (int32_t)tr->n, (int32_t)tr->n);
        bs_rng_free(rng);
        for (int64_t i = 0; i < tr->n; i++)
            order[i] = perm[i];
        double sum = 0;
        for (int64_t first = 0; rc == BS_OK && first < tr->n;) {
            int64_t left = tr->n - first;
            /* a last batch of one would break BatchNorm: it joins this one */
            int B = (int)(left <= c->batch + 1 ? left : c->batch);
            double loss = 0;
            rc = fill_batch(ft, d, tr, order, first, B, e, fc, yb, err);
            if (rc == BS_OK)
                rc = bs_finetune_compute_grads(ft, fc, yb, B, 1, &loss, NULL, err);
            if (rc == BS_OK)
                bs_finetune_apply_update(ft);
            sum += loss * B;
            first += B;
        }
        if (rc)
            break;
        double mean = sum / (double)tr->n;
        if (e == 0)
            rep->first_loss = mean;
        rep->last_loss = mean;
        rep->epochs_run = e + 1;
        if (!early) {
            rep->best_epoch = e + 1;
            bs_log(BS_LOG_DEBUG, "finetune: epoch %d loss %.6f", e + 1, mean);
            continue;
        }
        double vl;
        if ((rc = eval_loss(ft, d, va, &vl, err)))
            break;
        bs_log(BS_LOG_DEBUG, "finetune: epoch %d loss %.6f validation %.6f", e + 1, mean, vl);
        if (vl < best) { /* strictly lower: ties keep the earlier, shorter-trained weights */
            best = vl;
            rep->best_val_loss = vl;
            rep->best_epoch = e + 1;
            snap_take(ft, &snap);
        }
        if (rep->epochs_run - rep->best_epoch >= c->patience)
            break;
    }
    if (rc == BS_OK && early && isfinite(best))
        snap_restore(ft, &snap);
    bs_free(fc);
    free(yb);
    free(order);
    free(perm);
    bs_free(snap.enc);
    bs_free(snap.head);
    return rc;
}

int bs_finetune_fit(bs_finetune *ft, const bs_finetune_data *d, const int64_t *subjects, int64_t n,
                    const int32_t *y, bs_finetune_report *rep, bs_error *err)
{
    bs_finetune_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    rep->best_val_loss = NAN;
    const int C = ft->n_classes;
    if (d->rois != ft->L.R)
        return bs_error_set(err, BS_ERR_DATA, "finetune: the model has %d ROIs, the data %d (one atlas for both)",
                            ft->L.R, d->rois);
    if (ft->cfg.augment == BS_FINETUNE_AUGMENT_PFC && !d->pfc)
        return bs_error_set(err, BS_ERR_USAGE,
                            "finetune: pFC augmentation needs the ROI time series (the data hold FC matrices only)");
    int32_t *label_of = malloc(sizeof(int32_t) * (size_t)d->n_subjects);
    uint8_t *role = calloc((size_t)d->n_subjects, 1);
    int64_t *count = calloc((size_t)C, sizeof *count);
    item_set tr = {0}, va = {0};
    int rc = label_of && role && count ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    for (int64_t s = 0; rc == BS_OK && s < d->n_subjects; s++)
        label_of[s] = -1;
    for (int64_t i = 0; rc == BS_OK && i < n; i++) {
        if (subjects[i] < 0 || subjects[i] >= d->n_subjects || y[i] < 0 || y[i] >= C)
            rc = bs_error_set(err, BS_ERR_DATA, "finetune: training row %lld: subject %lld / label %d out of range",
                              (long long)i, (long long)subjects[i], (int)y[i]);
        else {
            label_of[subjects[i]] = y[i];
            role[subjects[i]] = 1;
            count[y[i]]++;
        }
    }
    for (int c = 0; rc == BS_OK && c < C; c++)
        if (!count[c]) {
            const char *nm = bs_finetune_class_name(ft, c);
            rc = bs_error_set(err, BS_ERR_DATA, "finetune: class '%s' has no training subject (need every class)",
                              nm ? nm : "?");
        }
    if (rc == BS_OK && ft->cfg.patience > 0)
        rc = choose_validation(ft, subjects, n, y, role, err);
    if (rc == BS_OK && (collect_items(d, label_of, role, 1, &tr) || collect_items(d, label_of, role, 2, &va)))
        rc = bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    if (rc == BS_OK && tr.n < 2)
        rc = bs_error_set(err, BS_ERR_DATA, "finetune: %lld training run(s): need at least 2 (BatchNorm)",
                          (long long)tr.n);
    if (rc == BS_OK)
        rc = train_items(ft, d, &tr, &va, rep, err);
    items_free(&tr);
    items_free(&va);
    free(label_of);
    free(role);
    free(count);
    return rc;
}

int bs_finetune_predict(bs_finetune *ft, const bs_finetune_data *d, const int64_t *subjects, int64_t n, double *probs,
                        bs_error *err)
{
    const int C = ft->n_classes;
    const size_t RR = (size_t)d->rois * d->rois;
    if (d->rois != ft->L.R)
        return bs_error_set(err, BS_ERR_DATA, "finetune: the model has %d ROIs, the data %d (one atlas for both)",
                            ft->L.R, d->rois);
    int64_t *slot = malloc(sizeof(int64_t) * (size_t)d->n_subjects);
    int64_t *runs = malloc(sizeof(int64_t) * (size_t)d->n_runs);
    int64_t *nrun = calloc((size_t)(n > 0 ? n : 1), sizeof *nrun);
    int64_t m = 0;
    int rc = slot && runs && nrun ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    for (int64_t s = 0; rc == BS_OK && s < d->n_subjects; s++)
        slot[s] = -1;
    for (int64_t i = 0; rc == BS_OK && i < n; i++) {
        if (subjects[i] < 0 || subjects[i] >= d->n_subjects)
            rc = bs_error_set(err, BS_ERR_DATA, "finetune: subject %lld out of range", (long long)subjects[i]);
        else
            slot[subjects[i]] = i;
    }
    for (int64_t u = 0; rc == BS_OK && u < d->n_runs; u++)
        if (slot[d->subject[u]] >= 0)
            runs[m++] = u;
    float *fc = rc == BS_OK ? bs_alloc_floats((size_t)(m > 0 ? m : 1) * RR) : NULL;
    double *p = rc == BS_OK ? malloc(sizeof(double) * (size_t)(m > 0 ? m : 1) * C) : NULL;
    if (rc == BS_OK && (!fc || !p))
        rc = bs_error_set(err, BS_ERR_NOMEM, "finetune: out of memory");
    for (int64_t k = 0; rc == BS_OK && k < m; k++)
        memcpy(fc + (size_t)k * RR, d->fc + (size_t)runs[k] * RR, RR * sizeof(float));
    if (rc == BS_OK)
        rc = bs_finetune_predict_fc(ft, fc, m, p, err);
    if (rc == BS_OK) {
        memset(probs, 0, sizeof(double) * (size_t)n * C);
        for (int64_t k = 0; k < m; k++) {
            int64_t i = slot[d->subject[runs[k]]];
            nrun[i]++;
            for (int c = 0; c < C; c++)
                probs[(size_t)i * C + c] += p[(size_t)k * C + c];
        }
        for (int64_t i = 0; i < n && rc == BS_OK; i++) {
            if (!nrun[i])
                rc = bs_error_set(err, BS_ERR_DATA, "finetune: subject %lld has no run", (long long)subjects[i]);
            for (int c = 0; c < C; c++)
                probs[(size_t)i * C + c] /= (double)(nrun[i] ? nrun[i] : 1);
        }
    }
    bs_free(fc);
    free(p);
    free(slot);
    free(runs);
    free(nrun);
    return rc;
}
