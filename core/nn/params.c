/* nn/params.c - the parameter table: named tensors in one contiguous buffer
 * each for values, gradients and AdamW moments. */
#include <stdio.h>

#include "brainstage/tensor.h"
#include "nn/nn_internal.h"

/* Every tensor starts on a 64-byte boundary (16 floats). */
#define NN_ALIGN_FLOATS 16

void nn_params_init(nn_params *p) { memset(p, 0, sizeof *p); }

void nn_params_free(nn_params *p)
{
    if (!p)
        return;
    free(p->items);
    bs_free(p->data);
    bs_free(p->grad);
    bs_free(p->adam_m);
    bs_free(p->adam_v);
    free(p->i64_scratch);
    memset(p, 0, sizeof *p);
}

int nn_params_find(const nn_params *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return i;
    return -1;
}

int nn_params_add(nn_params *p, const char *name, int ndim, const int64_t *shape,
                  unsigned flags, float **data_slot, float **grad_slot, bs_error *err)
{
    if (p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: '%s' registered after nn_params_alloc", name);
    if (!name || !*name || strlen(name) >= NN_NAME_MAX)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: name must have 1..%d characters",
                            NN_NAME_MAX - 1);
    if (ndim < 0 || ndim > NN_MAX_DIMS || (ndim > 0 && !shape))
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: '%s': ndim %d, expected 0..%d", name,
                            ndim, NN_MAX_DIMS);
    if (nn_params_find(p, name) >= 0)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: duplicate tensor name '%s'", name);
    /* ndim 0 is a scalar (PyTorch's num_batches_tracked has shape []). */
    int64_t numel = bs_shape_numel(ndim, shape);
    if (numel <= 0)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: '%s': invalid or empty shape", name);
    if (p->count == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        nn_param *items = realloc(p->items, sizeof *items * (size_t)cap);
        if (!items)
            return bs_error_set(err, BS_ERR_NOMEM, "nn params: out of memory registering '%s'", name);
        p->items = items;
        p->cap = cap;
    }
    nn_param *it = &p->items[p->count++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        it->shape[d] = shape[d];
    it->numel = (size_t)numel;
    it->flags = flags;
    it->data_slot = data_slot;
    it->grad_slot = grad_slot;
    it->offset = p->total;
    size_t padded = ((size_t)numel + NN_ALIGN_FLOATS - 1) / NN_ALIGN_FLOATS * NN_ALIGN_FLOATS;
    if (p->total > SIZE_MAX / sizeof(float) - padded)
        return bs_error_set(err, BS_ERR_NOMEM, "nn params: '%s': total size overflows", name);
    p->total += padded;
    return BS_OK;
}

int nn_params_add1(nn_params *p, const char *name, int64_t d0, unsigned flags,
                   float **data_slot, float **grad_slot, bs_error *err)
{
    int64_t s[1] = {d0};
    return nn_params_add(p, name, 1, s, flags, data_slot, grad_slot, err);
}

int nn_params_add2(nn_params *p, const char *name, int64_t d0, int64_t d1, unsigned flags,
                   float **data_slot, float **grad_slot, bs_error *err)
{
    int64_t s[2] = {d0, d1};
    return nn_params_add(p, name, 2, s, flags, data_slot, grad_slot, err);
}

int nn_params_add3(nn_params *p, const char *name, int64_t d0, int64_t d1, int64_t d2,
                   unsigned flags, float **data_slot, float **grad_slot, bs_error *err)
{
    int64_t s[3] = {d0, d1, d2};
    return nn_params_add(p, name, 3, s, flags, data_slot, grad_slot, err);
}

int nn_params_alloc(nn_params *p, bs_error *err)
{
    if (p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: nn_params_alloc called twice");
    size_t n = p->total ? p->total : NN_ALIGN_FLOATS;
    p->data = bs_alloc_floats(n);
    p->grad = bs_alloc_floats(n);
    p->adam_m = bs_alloc_floats(n);
    p->adam_v = bs_alloc_floats(n);
    if (!p->data || !p->grad || !p->adam_m || !p->adam_v) {
        bs_free(p->data);
        bs_free(p->grad);
        bs_free(p->adam_m);
        bs_free(p->adam_v);
        p->data = p->grad = p->adam_m = p->adam_v = NULL;
        return bs_error_set(err, BS_ERR_NOMEM, "nn params: cannot allocate 4 x %zu floats", n);
    }
    for (int i = 0; i < p->count; i++) {
        nn_param *it = &p->items[i];
        if (it->data_slot)
            *it->data_slot = p->data + it->offset;
        if (it->grad_slot)
            *it->grad_slot = p->grad + it->offset;
    }
    return BS_OK;
}

float *nn_params_data(const nn_params *p, int index)
{
    if (!p->data || index < 0 || index >= p->count)
        return NULL;
    return p->data + p->items[index].offset;
}

float *nn_params_grad(const nn_params *p, int index)
{
    if (!p->grad || index < 0 || index >= p->count)
        return NULL;
    return p->grad + p->items[index].offset;
}

void nn_params_zero_grad(nn_params *p)
{
    if (p->grad)
        memset(p->grad, 0, sizeof(float) * p->total);
}

size_t nn_params_num_trainable(const nn_params *p)
{
    size_t n = 0;
    for (int i = 0; i < p->count; i++)
        if (!(p->items[i].flags & (NN_PARAM_BUFFER | NN_PARAM_FROZEN)))
            n += p->items[i].numel;
    return n;
}

static int same_shape(const nn_param *a, const nn_param *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

int nn_params_copy(nn_params *dst, const nn_params *src, int include_buffers, bs_error *err)
{
    if (!dst->data || !src->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn params: copy before nn_params_alloc");
    if (dst->count != src->count)
        return bs_error_set(err, BS_ERR_DATA, "nn params: copy: %d tensors into a table of %d",
                            src->count, dst->count);
    for (int i = 0; i < src->count; i++) {
        const nn_param *s = &src->items[i], *d = &dst->items[i];
        if (strcmp(s->name, d->name) != 0 || !same_shape(s, d))
            return bs_error_set(err, BS_ERR_DATA, "nn params: copy: tensor %d is '%s' in the source "
                                "but '%s' (or another shape) in the destination", i, s->name, d->name);
    }
    for (int i = 0; i < src->count; i++) {
        const nn_param *s = &src->items[i];
        if ((s->flags & NN_PARAM_BUFFER) && !include_buffers)
            continue;
        memcpy(dst->data + dst->items[i].offset, src->data + s->offset, sizeof(float) * s->numel);
    }
    return BS_OK;
}
