/* nn/init.c - parameter initialisers matching PyTorch's defaults. */
#include "nn/nn_internal.h"

void nn_init_fill(float *w, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
        w[i] = value;
}

void nn_init_uniform(float *w, size_t n, float lo, float hi, bs_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(lo + (hi - lo) * bs_rng_uniform(rng));
}

void nn_init_normal(float *w, size_t n, float mean, float std, bs_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(mean + bs_rng_gaussian(rng, std));
}

/* kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(in), 1/sqrt(in)); the
 * bias uses the same bound. */
void nn_init_linear(float *w, float *b, int in, int out, bs_rng *rng)
{
    float bound = (float)(1.0 / sqrt((double)in));
    nn_init_uniform(w, (size_t)in * out, -bound, bound, rng);
    if (b)
        nn_init_uniform(b, (size_t)out, -bound, bound, rng);
}

void nn_init_xavier_uniform(float *w, int fan_in, int fan_out, bs_rng *rng)
{
    float bound = (float)sqrt(6.0 / ((double)fan_in + fan_out));
    nn_init_uniform(w, (size_t)fan_in * fan_out, -bound, bound, rng);
}

void nn_init_xavier_normal(float *w, size_t n, int fan_in, int fan_out, bs_rng *rng)
{
    float std = (float)sqrt(2.0 / ((double)fan_in + fan_out));
    nn_init_normal(w, n, 0.0f, std, rng);
}
