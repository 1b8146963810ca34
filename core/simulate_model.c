/* simulate_model.c - the generative model of one simulated subject.
 *
 * Latent-network model (docs/simulate.md):
 *   sources    K network factors F_k, one planted factor G, one unique
 *              factor E_r per ROI: independent stationary AR(1) series
 *              (phi = 0.2, unit variance) at the TR, each convolved with the
 *              canonical double-gamma HRF and rescaled to unit variance.
 *   ROI signal s_r = a F_k(r) + b G [r planted and patient] + c_r E_r,
 *              a = sqrt(within_coupling), b = sqrt(effect_size),
 *              c_r = sqrt(1 - a^2 - b^2 [..]): unit variance, and the true
 *              correlation of ROIs r != r' is
 *              a^2 [same network] + b^2 [both planted, patient].
 *   Every source has the same spectrum (same AR(1), same HRF), so the HRF
 *   leaves these correlations exactly as they were before convolution.
 *   observed   s_r + roi_noise * white noise (what the voxels carry).
 * Nuisance: 6 motion parameters (AR(1) drift plus occasional persistent
 * jumps), FD from them (Power et al.: translations + 50 mm x rotations),
 * a global physiological AR(1) signal, a motion artefact (a mix of the
 * motion parameters plus a dip proportional to FD above 0.2 mm) and a linear
 * scanner drift. */
#include "brainstage/simulate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/tensor.h"

#define HRF_MAX_TAPS 512
#define SOURCE_PHI 0.2

int bs_sim_hrf(double tr, double *h, int max_taps)
{
    int n = (int)floor(32.0 / tr) + 1;
    if (n > max_taps)
        n = max_taps;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double t = i * tr;
        double peak = t > 0 ? pow(t, 5.0) * exp(-t) / tgamma(6.0) : 0.0;
        double under = t > 0 ? pow(t, 15.0) * exp(-t) / tgamma(16.0) : 0.0;
        h[i] = peak - under / 6.0;
        sum += h[i];
    }
    for (int i = 0; i < n; i++)
        h[i] /= sum;
    return n;
}

void bs_sim_subject_free(bs_sim_subject *s)
{
    if (!s)
        return;
    bs_free(s->roi_signal);
    bs_free(s->roi_observed);
    free(s->truth);
    free(s->motion);
    free(s->fd);
    free(s->physio);
    free(s->artefact);
    free(s->drift);
    memset(s, 0, sizeof *s);
}

/* Stationary AR(1) with unit variance, length n. */
static void ar1(bs_rng *rng, double phi, double *x, int64_t n)
{
    double innov = sqrt(1.0 - phi * phi);
    x[0] = bs_rng_gaussian(rng, 1.0);
    for (int64_t t = 1; t < n; t++)
        x[t] = phi * x[t - 1] + innov * bs_rng_gaussian(rng, 1.0);
}

int bs_sim_subject_generate(const bs_sim_config *c, const bs_sim_space *s, int index, bs_sim_subject *subj,
                            bs_error *err)
{
    memset(subj, 0, sizeof *subj);
    const int64_t T = c->n_volumes;
    const int R = s->n_rois;
    const int K = c->n_networks < R ? c->n_networks : R;
    subj->index = index;
    subj->patient = index % 2; /* alternating groups: balanced for any N */
    subj->T = T;
    subj->R = R;

    double h[HRF_MAX_TAPS];
    int taps = bs_sim_hrf(c->tr, h, HRF_MAX_TAPS);
    /* Variance of the HRF-filtered unit AR(1): sum_ij h_i h_j phi^|i-j|. */
    double var_h = 0.0;
    for (int i = 0; i < taps; i++)
        for (int j = 0; j < taps; j++)
            var_h += h[i] * h[j] * pow(SOURCE_PHI, abs(i - j));
    const double norm = 1.0 / sqrt(var_h);
    const int64_t burn = taps + 16, L = T + burn;
    const int n_src = K + 1 + R;

    bs_rng *rng = bs_rng_derive(c->seed, (uint64_t)index);
    double *raw = malloc((size_t)L * sizeof(double));
    double *src = malloc((size_t)n_src * (size_t)T * sizeof(double));
    subj->roi_signal = bs_alloc_floats((size_t)T * (size_t)R);
    subj->roi_observed = bs_alloc_floats((size_t)T * (size_t)R);
    subj->truth = malloc((size_t)R * (size_t)R * sizeof(double));
    subj->motion = malloc((size_t)T * 6 * sizeof(double));
    subj->fd = malloc((size_t)T * sizeof(double));
    subj->physio = malloc((size_t)T * sizeof(double));
    subj->artefact = malloc((size_t)T * sizeof(double));
    subj->drift = malloc((size_t)T * sizeof(double));
    if (!rng || !raw || !src || !subj->roi_signal || !subj->roi_observed || !subj->truth || !subj->motion ||
        !subj->fd || !subj->physio || !subj->artefact || !subj->drift) {
        bs_rng_free(rng);
        free(raw);
        free(src);
        bs_sim_subject_free(subj);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory for subject %d", index + 1);
    }

    /* Sources: [0, K) networks, K planted, K+1+r unique. */
    for (int q = 0; q < n_src; q++) {
        ar1(rng, SOURCE_PHI, raw, L);
        for (int64_t t = 0; t < T; t++) {
            double acc = 0.0;
            for (int i = 0; i < taps; i++)
                acc += h[i] * raw[burn + t - i];
            src[(int64_t)q * T + t] = acc * norm;
        }
    }
    const double a = sqrt(c->within_coupling), b = sqrt(c->effect_size);
    for (int r = 0; r < R; r++) {
        int boosted = subj->patient && s->planted[r];
        double cr = sqrt(1.0 - a * a - (boosted ? b * b : 0.0));
        const double *F = src + (int64_t)s->network[r] * T, *G = src + (int64_t)K * T,
                     *E = src + (int64_t)(K + 1 + r) * T;
        for (int64_t t = 0; t < T; t++) {
            double v = a * F[t] + (boosted ? b * G[t] : 0.0) + cr * E[t];
            subj->roi_signal[t * R + r] = (float)v;
            subj->roi_observed[t * R + r] = (float)(v + c->roi_noise * bs_rng_gaussian(rng, 1.0));
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < R; q++) {
            double v = 1.0;
            if (r != q)
                v = (s->network[r] == s->network[q] ? a * a : 0.0) +
                    (subj->patient && s->planted[r] && s->planted[q] ? b * b : 0.0);
            subj->truth[r * R + q] = v;
        }

    /* Head motion: per-subject level, AR(1) drift, persistent jumps. */
    const double level = c->motion_scale * exp(0.4 * bs_rng_gaussian(rng, 1.0));
    static const double nominal[6] = {0.15, 0.15, 0.15, 0.003, 0.003, 0.003};
    static const double jump[6] = {0.5, 0.5, 0.5, 0.008, 0.008, 0.008};
    double p_jump = 0.03 * level;
    if (p_jump > 0.3)
        p_jump = 0.3;
    double offset[6] = {0}, state[6];
    for (int j = 0; j < 6; j++)
        state[j] = bs_rng_gaussian(rng, nominal[j] * level);
    for (int64_t t = 0; t < T; t++) {
        int jumps = t > 0 && bs_rng_uniform(rng) < p_jump;
        for (int j = 0; j < 6; j++) {
            if (t > 0)
                state[j] = 0.95 * state[j] + sqrt(1.0 - 0.95 * 0.95) * bs_rng_gaussian(rng, nominal[j] * level);
            if (jumps)
                offset[j] += bs_rng_gaussian(rng, jump[j] * level);
            subj->motion[t * 6 + j] = state[j] + offset[j];
        }
    }
    subj->fd[0] = 0.0;
    for (int64_t t = 1; t < T; t++) {
        double fd = 0.0;
        for (int j = 0; j < 6; j++)
            fd += fabs(subj->motion[t * 6 + j] - subj->motion[(t - 1) * 6 + j]) * (j < 3 ? 1.0 : 50.0);
        subj->fd[t] = fd;
    }
    ar1(rng, 0.8, subj->physio, T);
    double w[6];
    for (int j = 0; j < 6; j++)
        w[j] = bs_rng_gaussian(rng, 1.0) / sqrt(6.0);
    double slope = bs_rng_gaussian(rng, 2.0);
    for (int64_t t = 0; t < T; t++) {
        double mix = 0.0;
        for (int j = 0; j < 6; j++)
            mix += w[j] * subj->motion[t * 6 + j] / nominal[j];
        subj->artefact[t] = 0.5 * mix - 3.0 * (subj->fd[t] > 0.2 ? subj->fd[t] - 0.2 : 0.0);
        subj->drift[t] = slope * (T > 1 ? (double)t / (double)(T - 1) - 0.5 : 0.0);
    }
    subj->noise_seed = bs_splitmix64(((uint64_t)bs_rng_uniform_int(rng, UINT64_MAX) << 1) ^ (uint64_t)index);
    bs_rng_free(rng);
    free(raw);
    free(src);
    return BS_OK;
}
