/* metrics.c - classification and regression metrics with sklearn semantics. */
#include "brainstage/eval.h"

#include <math.h>
#include <stdlib.h>

double bs_metric_accuracy(const int32_t *y_true, const int32_t *y_pred, int64_t n)
{
    if (n <= 0)
        return NAN;
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++)
        hit += y_true[i] == y_pred[i];
    return (double)hit / (double)n;
}

/* Confusion counts: tp[c], true count[c], predicted count[c]. */
static int confusion(const int32_t *y_true, const int32_t *y_pred, int64_t n, int k, int64_t **out)
{
    int64_t *buf = calloc((size_t)(3 * k), sizeof(int64_t));
    if (!buf)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        if (y_true[i] < 0 || y_true[i] >= k || y_pred[i] < 0 || y_pred[i] >= k)
            continue;
        buf[k + y_true[i]]++;
        buf[2 * k + y_pred[i]]++;
        if (y_true[i] == y_pred[i])
            buf[y_true[i]]++;
    }
    *out = buf;
    return 0;
}

double bs_metric_balanced_accuracy(const int32_t *y_true, const int32_t *y_pred, int64_t n, int n_classes)
{
    int64_t *cm;
    if (n <= 0 || confusion(y_true, y_pred, n, n_classes, &cm) != 0)
        return NAN;
    double s = 0;
    int present = 0;
    for (int c = 0; c < n_classes; c++)
        if (cm[n_classes + c] > 0) {
            s += (double)cm[c] / (double)cm[n_classes + c];
            present++;
        }
    free(cm);
    return present ? s / present : NAN;
}

double bs_metric_f1_macro(const int32_t *y_true, const int32_t *y_pred, int64_t n, int n_classes)
{
    int64_t *cm;
    if (n <= 0 || confusion(y_true, y_pred, n, n_classes, &cm) != 0)
        return NAN;
    double s = 0;
    int present = 0;
    for (int c = 0; c < n_classes; c++) {
        int64_t tp = cm[c], t = cm[n_classes + c], p = cm[2 * n_classes + c];
        if (t == 0 && p == 0)
            continue;
        present++;
        /* F1 = 2PR/(P+R) = 2tp/(t+p); 0 when tp = 0 (sklearn's zero_division). */
        s += tp > 0 ? 2.0 * (double)tp / (double)(t + p) : 0.0;
    }
    free(cm);
    return present ? s / present : NAN;
}

typedef struct ranked {
    double s;
    int64_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    double x = ((const ranked *)a)->s, y = ((const ranked *)b)->s;
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    int64_t i = ((const ranked *)a)->i, j = ((const ranked *)b)->i;
    return (i > j) - (i < j);
}

double bs_metric_auc_binary(const uint8_t *is_pos, const double *score, int64_t n)
{
    ranked *r = malloc(sizeof(ranked) * (size_t)(n > 0 ? n : 1));
    if (!r)
        return NAN;
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        r[i].s = score[i];
        r[i].i = i;
        npos += is_pos[i] != 0;
    }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) {
        free(r);
        return NAN;
    }
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    /* Mann-Whitney U from mid-ranks: a positive beats each lower negative
     * and half of each tied one.  Summed as exact integers (in halves). */
    int64_t twice_u = 0, neg_below = 0;
    for (int64_t a = 0; a < n;) {
        int64_t b = a, pos_tie = 0, neg_tie = 0;
        while (b < n && r[b].s == r[a].s) {
            if (is_pos[r[b].i])
                pos_tie++;
            else
                neg_tie++;
            b++;
        }
        twice_u += pos_tie * (2 * neg_below + neg_tie);
        neg_below += neg_tie;
        a = b;
    }
    free(r);
    return (double)twice_u / (2.0 * (double)npos * (double)nneg);
}

double bs_metric_auc(const int32_t *y_true, const double *scores, int64_t n, int n_classes)
{
    uint8_t *pos = malloc((size_t)(n > 0 ? n : 1));
    double *col = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double total = 0;
    if (!pos || !col) {
        free(pos);
        free(col);
        return NAN;
    }
    int first = n_classes == 2 ? 1 : 0;
    for (int c = first; c < n_classes; c++) {
        for (int64_t i = 0; i < n; i++) {
            pos[i] = y_true[i] == c;
            col[i] = scores[i * n_classes + c];
        }
        total += bs_metric_auc_binary(pos, col, n); /* NaN propagates */
    }
    free(pos);
    free(col);
    return total / (n_classes - first);
}

double bs_metric_mae(const double *y_true, const double *y_pred, int64_t n)
{
    if (n <= 0)
        return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fabs(y_true[i] - y_pred[i]);
    return s / (double)n;
}

double bs_metric_pearson(const double *a, const double *b, int64_t n)
{
    if (n < 2)
        return NAN;
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = a[i] - ma, y = b[i] - mb;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if (saa <= 0 || sbb <= 0)
        return NAN;
    return sab / sqrt(saa * sbb);
}

double bs_metric_r2(const double *y_true, const double *y_pred, int64_t n)
{
    if (n < 2)
        return NAN;
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m += y_true[i];
    m /= (double)n;
    double res = 0, tot = 0;
    for (int64_t i = 0; i < n; i++) {
        res += (y_true[i] - y_pred[i]) * (y_true[i] - y_pred[i]);
        tot += (y_true[i] - m) * (y_true[i] - m);
    }
    return tot > 0 ? 1.0 - res / tot : NAN;
}
