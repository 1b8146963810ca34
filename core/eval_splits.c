/* eval_splits.c - train/test splits: stratified k-fold, k-fold, few-shot. */
#include "brainstage/eval.h"
#include "brainstage/rng.h"

#include <stdlib.h>
#include <string.h>

void bs_splits_free(bs_splits *s)
{
    if (!s)
        return;
    free(s->role);
    s->role = NULL;
    s->n_splits = 0;
    s->n = 0;
}

static int splits_alloc(bs_splits *s, int n_splits, int64_t n, bs_error *err)
{
    s->n_splits = n_splits;
    s->n = n;
    s->role = calloc((size_t)n_splits * (size_t)n, 1);
    if (!s->role)
        return bs_error_set(err, BS_ERR_NOMEM, "splits: out of memory for %d x %lld", n_splits, (long long)n);
    return BS_OK;
}

/* Marks fold f's rows as test and all others as train. */
static void roles_from_folds(bs_splits *s, const int32_t *fold)
{
    for (int f = 0; f < s->n_splits; f++)
        for (int64_t i = 0; i < s->n; i++)
            s->role[(int64_t)f * s->n + i] = fold[i] == f ? BS_SPLIT_TEST : BS_SPLIT_TRAIN;
}

static int check_k(int64_t n, int k, bs_error *err)
{
    if (k < 2)
        return bs_error_set(err, BS_ERR_USAGE, "cross-validation: need at least 2 folds, got %d", k);
    if (n < k)
        return bs_error_set(err, BS_ERR_DATA, "cross-validation: %lld samples are fewer than the %d folds",
                            (long long)n, k);
    return BS_OK;
}

int bs_splits_stratified_kfold(const int32_t *y, int64_t n, int n_classes, int k, uint64_t seed,
                               bs_splits *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_k(n, k, err);
    if (rc)
        return rc;
    int64_t *count = calloc((size_t)n_classes, sizeof *count);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *fold = malloc(sizeof(int32_t) * (size_t)n);
    if (!count || !idx || !fold) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "stratified k-fold: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        count[y[i]]++;
    for (int c = 0; c < n_classes; c++)
        if (count[c] < k) {
            rc = bs_error_set(err, BS_ERR_DATA,
                              "stratified k-fold: class %d has %lld samples, fewer than the %d folds "
                              "(a test fold would lack it); use fewer folds",
                              c, (long long)count[c], k);
            goto done;
        }
    /* Deal each class's shuffled rows round-robin, continuing the fold
     * pointer across classes so fold sizes also stay within one. */
    int next = 0;
    for (int c = 0; c < n_classes; c++) {
        int32_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == c)
                idx[m++] = (int32_t)i;
        bs_rng *rng = bs_rng_derive(seed, (uint64_t)c);
        if (!rng) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "stratified k-fold: out of memory");
            goto done;
        }
        bs_rng_partial_shuffle(rng, idx, m, m);
        bs_rng_free(rng);
        for (int32_t j = 0; j < m; j++) {
            fold[idx[j]] = next;
            next = (next + 1) % k;
        }
    }
    if ((rc = splits_alloc(out, k, n, err)) == BS_OK)
        roles_from_folds(out, fold);
done:
    free(count);
    free(idx);
    free(fold);
    return rc;
}

int bs_splits_kfold(int64_t n, int k, uint64_t seed, bs_splits *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_k(n, k, err);
    if (rc)
        return rc;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *fold = malloc(sizeof(int32_t) * (size_t)n);
    bs_rng *rng = bs_rng_derive(seed, 0);
    if (!idx || !fold || !rng) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "k-fold: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = (int32_t)i;
    bs_rng_partial_shuffle(rng, idx, (int32_t)n, (int32_t)n);
    for (int64_t j = 0; j < n; j++)
        fold[idx[j]] = (int32_t)(j % k);
    if ((rc = splits_alloc(out, k, n, err)) == BS_OK)
        roles_from_folds(out, fold);
done:
    free(idx);
    free(fold);
    bs_rng_free(rng);
    return rc;
}

int bs_splits_from_folds(const int32_t *fold, int64_t n, bs_splits *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    int32_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fold[i] < 0 || fold[i] >= 1000000)
            return bs_error_set(err, BS_ERR_DATA, "folds: row %lld has fold %d, expected 0..", (long long)i,
                                (int)fold[i]);
        if (fold[i] + 1 > k)
            k = fold[i] + 1;
    }
    int rc = check_k(n, k, err);
    if (rc)
        return rc;
    if ((rc = splits_alloc(out, k, n, err)) != BS_OK)
        return rc;
    roles_from_folds(out, fold);
    for (int f = 0; f < k; f++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            m += fold[i] == f;
        if (m == 0) {
            bs_splits_free(out);
            return bs_error_set(err, BS_ERR_DATA, "folds: fold %d has no rows", f);
        }
    }
    return BS_OK;
}

int bs_splits_fewshot(const int32_t *y, int64_t n, int n_classes, int shots, int repeats, uint64_t seed,
                      bs_splits *out, bs_error *err)
{
    memset(out, 0, sizeof *out);
    if (shots < 1 || repeats < 1)
        return bs_error_set(err, BS_ERR_USAGE, "few-shot: shots (%d) and repeats (%d) must be >= 1", shots,
                            repeats);
    int64_t *count = calloc((size_t)n_classes, sizeof *count);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    int rc = BS_OK;
    if (!count || !idx) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "few-shot: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        count[y[i]]++;
    for (int c = 0; c < n_classes; c++)
        if (count[c] <= shots) {
            rc = bs_error_set(err, BS_ERR_DATA,
                              "few-shot: class %d has %lld samples; %d-shot needs at least %d (one left to test)",
                              c, (long long)count[c], shots, shots + 1);
            goto done;
        }
    if ((rc = splits_alloc(out, repeats, n, err)) != BS_OK)
        goto done;
    for (int r = 0; r < repeats; r++) {
        uint8_t *role = out->role + (int64_t)r * n;
        for (int64_t i = 0; i < n; i++)
            role[i] = BS_SPLIT_TEST;
        for (int c = 0; c < n_classes; c++) {
            int32_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (y[i] == c)
                    idx[m++] = (int32_t)i;
            /* One stream per (repeat, class): a draw does not depend on
             * how many classes or repeats come before it. */
            bs_rng *rng = bs_rng_derive(seed, (uint64_t)r * 1000003u + (uint64_t)c);
            if (!rng) {
                bs_splits_free(out);
                rc = bs_error_set(err, BS_ERR_NOMEM, "few-shot: out of memory");
                goto done;
            }
            bs_rng_partial_shuffle(rng, idx, m, shots);
            bs_rng_free(rng);
            for (int s = 0; s < shots; s++)
                role[idx[s]] = BS_SPLIT_TRAIN;
        }
    }
done:
    free(count);
    free(idx);
    return rc;
}
