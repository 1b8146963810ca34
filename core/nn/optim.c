/* nn/optim.c - AdamW, learning-rate schedules, gradient clipping, EMA. */
#include <stdio.h>

#include "nn/nn_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

nn_adamw_cfg nn_adamw_defaults(void)
{
    nn_adamw_cfg c = {0.9f, 0.999f, 1e-8f, 0.01f};
    return c;
}

/* Written in float in the order torch's single-tensor AdamW uses, so
 * results agree to rounding: decay, moments, then addcdiv. */
void nn_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                     float lr, const nn_adamw_cfg *cfg, float weight_decay, int64_t step)
{
    float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
    double bc1 = 1.0 - pow((double)b1, (double)step);
    double bc2 = 1.0 - pow((double)b2, (double)step);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)weight_decay);
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        m[i] = m[i] * b1 + (1.0f - b1) * g;
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = p - step_size * (m[i] / denom);
    }
}

static int trainable(const nn_param *it) { return !(it->flags & (NN_PARAM_BUFFER | NN_PARAM_FROZEN)); }

void nn_params_adamw_step(nn_params *p, float lr, const nn_adamw_cfg *cfg)
{
    p->adam_step++;
    for (int i = 0; i < p->count; i++) {
        const nn_param *it = &p->items[i];
        if (!trainable(it))
            continue;
        float wd = (it->flags & NN_PARAM_NO_DECAY) ? 0.0f : cfg->weight_decay;
        nn_adamw_update(p->data + it->offset, p->grad + it->offset, p->adam_m + it->offset,
                        p->adam_v + it->offset, it->numel, lr, cfg, wd, p->adam_step);
    }
}

float nn_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float lr_max, float lr_min)
{
    if (step < warmup)
        return (float)((double)lr_max * (double)(step + 1) / (double)warmup);
    int64_t span = total - warmup;
    if (span <= 0 || step >= total)
        return span <= 0 ? lr_max : lr_min;
    double progress = (double)(step - warmup) / (double)span;
    return (float)(lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * progress)));
}

float nn_lr_warmup_constant(int64_t step, int64_t warmup, float lr)
{
    if (step < warmup)
        return (float)((double)lr * (double)(step + 1) / (double)warmup);
    return lr;
}

/* Sum of squares in double, serial: the norm must not depend on threads. */
static double sumsq(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

static void scale_floats(float *g, size_t n, float k)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        g[i] *= k;
}

double nn_grad_norm(const float *g, size_t n) { return sqrt(sumsq(g, n)); }

double nn_clip_grad_norm(float *g, size_t n, float max_norm)
{
    double norm = nn_grad_norm(g, n);
    double coef = (double)max_norm / (norm + 1e-6);
    if (coef < 1.0)
        scale_floats(g, n, (float)coef);
    return norm;
}

void nn_clip_grad_value(float *g, size_t n, float clip)
{
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] > clip ? clip : (g[i] < -clip ? -clip : g[i]);
}

double nn_params_grad_norm(const nn_params *p)
{
    double s = 0;
    for (int i = 0; i < p->count; i++)
        if (trainable(&p->items[i]))
            s += sumsq(p->grad + p->items[i].offset, p->items[i].numel);
    return sqrt(s);
}

double nn_params_clip_grad_norm(nn_params *p, float max_norm)
{
    double norm = nn_params_grad_norm(p);
    double coef = (double)max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int i = 0; i < p->count; i++)
            if (trainable(&p->items[i]))
                scale_floats(p->grad + p->items[i].offset, p->items[i].numel, (float)coef);
    return norm;
}

void nn_params_clip_grad_value(nn_params *p, float clip)
{
    for (int i = 0; i < p->count; i++)
        if (trainable(&p->items[i]))
            nn_clip_grad_value(p->grad + p->items[i].offset, p->items[i].numel, clip);
}

void nn_ema_update(float *target, const float *online, size_t n, float momentum)
{
    float k = 1.0f - momentum;
#pragma omp parallel for schedule(static) if (n > NN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        target[i] = momentum * target[i] + k * online[i];
}

int nn_params_ema_update(nn_params *target, const nn_params *online, float momentum, bs_error *err)
{
    for (int i = 0; i < target->count; i++) {
        const nn_param *t = &target->items[i];
        if (t->flags & NN_PARAM_BUFFER)
            continue;
        /* Same registration order is the common case: try index i first. */
        int j = (i < online->count && strcmp(online->items[i].name, t->name) == 0)
                    ? i : nn_params_find(online, t->name);
        if (j < 0)
            return bs_error_set(err, BS_ERR_DATA, "nn EMA: target tensor '%s' has no online twin", t->name);
        const nn_param *o = &online->items[j];
        if (o->numel != t->numel || o->ndim != t->ndim)
            return bs_error_set(err, BS_ERR_DATA, "nn EMA: '%s': %zu values online, %zu in target",
                                t->name, o->numel, t->numel);
        nn_ema_update(target->data + t->offset, online->data + o->offset, t->numel, momentum);
    }
    return BS_OK;
}
