/* core/brainmae/synth.c - synthetic ROI time series with planted networks
 * and state switching on the window scale, for BrainMAE's validation (does
 * the learned ROI embedding recover the networks?) and for demos. */
#include "brainstage/brainmae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/rng.h"

void bs_brainmae_sim_defaults(bs_brainmae_sim *s, int n_rois, int n_networks, int64_t n_time,
                              double tr)
{
    s->n_rois = n_rois;
    s->n_networks = n_networks;
    s->n_time = n_time;
    s->tr = tr;
    s->state_s = 15.0;
    s->coupling = 0.7;
    s->phi = 0.8;
    s->seed = 7;
}

int bs_brainmae_simulate(const bs_brainmae_sim *s, int subject, float *ts, int *network,
                         bs_error *err)
{
    const int R = s->n_rois, K = s->n_networks;
    if (R < 2 || K < 1 || K > R || s->n_time < 1 || !(s->tr > 0) || !(s->state_s > 0) ||
        !(s->coupling >= 0 && s->coupling <= 1) || !(fabs(s->phi) < 1))
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmae simulate: need 2 <= n_rois, 1 <= n_networks <= n_rois, "
                            "n_time >= 1, tr > 0, state_s > 0, coupling in [0,1], |phi| < 1");
    /* ROI loadings are a property of the "brain": same for every subject */
    bs_rng *fixed = bs_rng_derive(s->seed, 0xB4A1u);
    double *load = malloc(sizeof(double) * (size_t)R);
    double *g = calloc((size_t)K, sizeof(double)), *gain = malloc(sizeof(double) * (size_t)K);
    double *e = calloc((size_t)R, sizeof(double));
    if (!load || !g || !gain || !e) {
        bs_rng_free(fixed);
        free(load);
        free(g);
        free(gain);
        free(e);
        return bs_error_set(err, BS_ERR_NOMEM, "brainmae simulate: out of memory");
    }
    for (int r = 0; r < R; r++) load[r] = 0.7 + 0.6 * bs_rng_uniform(fixed);
    bs_rng_free(fixed);
    bs_rng *rng = bs_rng_derive(s->seed, (uint64_t)subject + 1);
    const double in_g = sqrt(1 - s->phi * s->phi), phi_e = 0.5, in_e = sqrt(1 - phi_e * phi_e);
    const int64_t state_len = (int64_t)fmax(1.0, round(s->state_s / s->tr));
    for (int k = 0; k < K; k++) g[k] = bs_rng_gaussian(rng, 1.0);
    for (int r = 0; r < R; r++) e[r] = bs_rng_gaussian(rng, 1.0);
    for (int64_t t = 0; t < s->n_time; t++) {
        if (t % state_len == 0)
            for (int k = 0; k < K; k++) gain[k] = bs_rng_uniform(rng) < 0.5 ? 0.3 : 1.0;
        for (int k = 0; k < K; k++) g[k] = s->phi * g[k] + in_g * bs_rng_gaussian(rng, 1.0);
        for (int r = 0; r < R; r++) {
            e[r] = phi_e * e[r] + in_e * bs_rng_gaussian(rng, 1.0);
            const int k = r % K;
            ts[t * R + r] = (float)(sqrt(s->coupling) * load[r] * gain[k] * g[k] +
                                    sqrt(1 - s->coupling) * e[r]);
        }
    }
    if (network)
        for (int r = 0; r < R; r++) network[r] = r % K;
    bs_rng_free(rng);
    free(load);
    free(g);
    free(gain);
    free(e);
    return BS_OK;
}
