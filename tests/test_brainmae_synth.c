/* tests/test_brainmae_synth.c - BrainMAE synthetic validation: pretrain an
 * SG-BrainMAE on simulated subjects with planted networks, then check that
 * (1) the learned ROI-embedding similarity recovers the planted networks and
 * (2) masked-segment reconstruction on held-out subjects beats the per-ROI
 * mean and linear-interpolation baselines.  Prints every figure.
 * Optional argv[1] = epochs (default below keeps the test short), argv[2] =
 * dropout rate (default: the config default, 0). */
#include "brainstage/brainmae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R = 20, K = 4, N_TRAIN = 32, N_TEST = 8 };
static const double TR = 1.5, WINDOW_S = 15.0;
static const int64_t T = 240; /* 6 min */

#define CHECK(call)                                                \
    do {                                                           \
        if ((call) != BS_OK) {                                     \
            fprintf(stderr, "%s: %s\n", #call, err.message);       \
            return 1;                                              \
        }                                                          \
    } while (0)

/* Point-biserial correlation of similarity sim (R x R, i<j pairs) with the
 * same-network indicator. */
static double network_correlation(const double *sim, const int *net)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    int n = 0;
    for (int i = 0; i < R; i++)
        for (int j = i + 1; j < R; j++) {
            double x = sim[i * R + j], y = net[i] == net[j];
            sx += x;
            sy += y;
            sxx += x * x;
            syy += y * y;
            sxy += x * y;
            n++;
        }
    double cov = sxy / n - sx / n * sy / n;
    return cov / sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
}

/* Fraction of ROIs whose most similar other ROI is in the same network. */
static double nearest_neighbour_accuracy(const double *sim, const int *net)
{
    int hit = 0;
    for (int i = 0; i < R; i++) {
        int best = -1;
        for (int j = 0; j < R; j++)
            if (j != i && (best < 0 || sim[i * R + j] > sim[i * R + best])) best = j;
        hit += net[best] == net[i];
    }
    return (double)hit / R;
}

int main(int argc, char **argv)
{
    bs_error err = {0};
    const int epochs = argc > 1 ? atoi(argv[1]) : 40;
    int seg_len;
    CHECK(bs_brainmae_seg_len(WINDOW_S, TR, &seg_len, &err));
    bs_brainmae_config cfg;
    bs_brainmae_config_default(&cfg, R, seg_len, 4);
    cfg.d_model = 32;
    cfg.d_key = 16;
    cfg.d_ffn = 64;
    cfg.n_heads = 4;
    cfg.n_temporal = 1;
    cfg.n_decoder = 1;
    cfg.window_s = (float)WINDOW_S;
    if (argc > 2) cfg.dropout = (float)atof(argv[2]);

    bs_brainmae_sim sim;
    bs_brainmae_sim_defaults(&sim, R, K, T, TR);
    int net[R];
    float *ts = malloc(sizeof(float) * (size_t)T * R);
    bs_brainmae_prepared subs[N_TRAIN + N_TEST];
    for (int i = 0; i < N_TRAIN + N_TEST; i++) {
        CHECK(bs_brainmae_simulate(&sim, i, ts, net, &err));
        bs_brainmae_subject s = {ts, T, R, TR, "sim"};
        CHECK(bs_brainmae_prepare(&cfg, &s, &subs[i], &err));
    }
    bs_brainmae *m = bs_brainmae_new(&cfg, 3, &err);
    if (!m) return fprintf(stderr, "%s\n", err.message), 1;
    bs_brainmae_train_options opt;
    bs_brainmae_train_defaults(&opt);
    opt.epochs = epochs;
    opt.batch = 8;
    opt.opt.lr = 2e-3f;
    opt.quiet = 1;
    bs_brainmae_train_report rep;
    CHECK(bs_brainmae_pretrain(m, subs, N_TRAIN, &opt, &rep, &err));
    printf("pretrain: %d epochs, loss %.4f -> %.4f\n", rep.epochs_done, rep.first_loss,
           rep.last_loss);

    /* (1) network recovery from E (cosine similarity) and from alpha */
    const int d = cfg.d_model;
    float *E = malloc(sizeof(float) * R * d), *alpha = malloc(sizeof(float) * R * R);
    double simE[R * R], simA[R * R];
    bs_brainmae_roi_embeddings(m, E);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) {
            double a = 0, b = 0, c = 0;
            for (int k = 0; k < d; k++) {
                a += E[i * d + k] * E[j * d + k];
                b += E[i * d + k] * E[i * d + k];
                c += E[j * d + k] * E[j * d + k];
            }
            simE[i * R + j] = a / sqrt(b * c);
        }
    CHECK(bs_brainmae_adjacency(m, 0, alpha, &err));
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) simA[i * R + j] = alpha[i * R + j] + alpha[j * R + i];
    const double rE = network_correlation(simE, net), nnE = nearest_neighbour_accuracy(simE, net);
    const double rA = network_correlation(simA, net), nnA = nearest_neighbour_accuracy(simA, net);
    printf("network recovery: E cosine r = %.3f, nearest-neighbour acc = %.2f; "
           "alpha+alpha^T r = %.3f, acc = %.2f (chance acc %.2f)\n",
           rE, nnE, rA, nnA, (double)(R / K - 1) / (R - 1));

    /* (2) held-out masked reconstruction at the evaluation ratio 0.7 */
    double sse_model = 0, sse_mean = 0, sse_lin = 0;
    int64_t cnt = 0;
    for (int i = N_TRAIN; i < N_TRAIN + N_TEST; i++) {
        bs_brainmae_inference inf;
        CHECK(bs_brainmae_infer(m, &subs[i], 0.7, 100 + i, &inf, &err));
        const int S = cfg.n_segments, tau = seg_len;
        for (int smp = 0; smp < inf.n_samples; smp++)
            for (int r = 0; r < R; r++) {
                /* visible samples of ROI r in this sample window */
                double mean = 0;
                int nvis = 0;
                for (int s = 0; s < S; s++) {
                    size_t row = (size_t)(smp * S + s) * R + r;
                    if (inf.mask[row]) continue;
                    for (int j = 0; j < tau; j++) mean += inf.target[row * tau + j];
                    nvis += tau;
                }
                mean = nvis ? mean / nvis : 0;
                for (int s = 0; s < S; s++) {
                    size_t row = (size_t)(smp * S + s) * R + r;
                    if (!inf.mask[row]) continue;
                    int sp = s - 1, sn = s + 1;
                    while (sp >= 0 && inf.mask[(size_t)(smp * S + sp) * R + r]) sp--;
                    while (sn < S && inf.mask[(size_t)(smp * S + sn) * R + r]) sn++;
                    double t0 = 0, v0 = 0, t1 = 0, v1 = 0;
                    if (sp >= 0) {
                        t0 = (double)sp * tau + tau - 1;
                        v0 = inf.target[((size_t)(smp * S + sp) * R + r) * tau + tau - 1];
                    }
                    if (sn < S) {
                        t1 = (double)sn * tau;
                        v1 = inf.target[((size_t)(smp * S + sn) * R + r) * tau];
                    }
                    for (int j = 0; j < tau; j++) {
                        double t = (double)s * tau + j, y = inf.target[row * tau + j], lin;
                        if (sp >= 0 && sn < S) lin = v0 + (v1 - v0) * (t - t0) / (t1 - t0);
                        else if (sp >= 0) lin = v0;
                        else if (sn < S) lin = v1;
                        else lin = mean;
                        sse_model += pow(inf.recon[row * tau + j] - y, 2);
                        sse_mean += pow(mean - y, 2);
                        sse_lin += pow(lin - y, 2);
                        cnt++;
                    }
                }
            }
        bs_brainmae_inference_free(&inf);
    }
    const double mse_model = sse_model / cnt, mse_mean = sse_mean / cnt, mse_lin = sse_lin / cnt;
    printf("held-out masked MSE (z-scored, ratio 0.7, %lld samples): BrainMAE %.4f, ROI mean "
           "%.4f, linear interpolation %.4f\n",
           (long long)cnt, mse_model, mse_mean, mse_lin);

    int bad = 0;
    if (!(mse_model < mse_mean && mse_model < mse_lin)) {
        fprintf(stderr, "FAIL: BrainMAE does not beat both baselines\n");
        bad++;
    }
    if (!(rA > 0.3 || rE > 0.3)) {
        fprintf(stderr, "FAIL: planted networks not recovered (r <= 0.3)\n");
        bad++;
    }
    for (int i = 0; i < N_TRAIN + N_TEST; i++) bs_brainmae_prepared_free(&subs[i]);
    free(E);
    free(alpha);
    free(ts);
    bs_brainmae_free(m);
    return bad ? 1 : 0;
}
