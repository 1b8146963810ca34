/* tensor.c - dense float32 tensors. */
#include "brainstage/tensor.h"

#include <stdlib.h>
#include <string.h>

int bs_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

void *bs_alloc_aligned(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 1;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes || posix_memalign(&p, 64, rounded) != 0)
        return NULL;
    memset(p, 0, rounded);
    return p;
}

float *bs_alloc_floats(size_t n)
{
    size_t bytes;
    if (!bs_mul_size(n, sizeof(float), &bytes))
        return NULL;
    return bs_alloc_aligned(bytes);
}

void bs_free(void *p) { free(p); }

int64_t bs_shape_numel(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > BS_TENSOR_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    if ((uint64_t)n > SIZE_MAX / sizeof(float))
        return -1;
    return n;
}

int64_t bs_tensor_numel(const bs_tensor *t)
{
    return t ? bs_shape_numel(t->ndim, t->shape) : 0;
}

static bs_tensor *tensor_header(int ndim, const int64_t *shape, bs_error *err)
{
    if (ndim < 0 || ndim > BS_TENSOR_MAX_DIMS) {
        bs_error_set(err, BS_ERR_USAGE, "tensor rank %d outside 0..%d", ndim, BS_TENSOR_MAX_DIMS);
        return NULL;
    }
    if (bs_shape_numel(ndim, shape) < 0) {
        bs_error_set(err, BS_ERR_NOMEM, "tensor shape is negative or too large");
        return NULL;
    }
    bs_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory allocating a tensor header");
        return NULL;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return t;
}

bs_tensor *bs_tensor_new(int ndim, const int64_t *shape, bs_error *err)
{
    bs_tensor *t = tensor_header(ndim, shape, err);
    if (!t)
        return NULL;
    int64_t n = bs_tensor_numel(t);
    t->data = bs_alloc_floats((size_t)n);
    if (!t->data) {
        free(t);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory allocating %lld floats", (long long)n);
        return NULL;
    }
    t->owns_data = 1;
    return t;
}

bs_tensor *bs_tensor_new_1d(int64_t n0, bs_error *err)
{
    int64_t s[1] = {n0};
    return bs_tensor_new(1, s, err);
}

bs_tensor *bs_tensor_new_2d(int64_t n0, int64_t n1, bs_error *err)
{
    int64_t s[2] = {n0, n1};
    return bs_tensor_new(2, s, err);
}

bs_tensor *bs_tensor_new_3d(int64_t n0, int64_t n1, int64_t n2, bs_error *err)
{
    int64_t s[3] = {n0, n1, n2};
    return bs_tensor_new(3, s, err);
}

bs_tensor *bs_tensor_wrap(float *data, int ndim, const int64_t *shape, bs_error *err)
{
    bs_tensor *t = tensor_header(ndim, shape, err);
    if (!t)
        return NULL;
    t->data = data;
    t->owns_data = 0;
    return t;
}

bs_tensor *bs_tensor_clone(const bs_tensor *src, bs_error *err)
{
    bs_tensor *t = bs_tensor_new(src->ndim, src->shape, err);
    if (t)
        memcpy(t->data, src->data, (size_t)bs_tensor_numel(src) * sizeof(float));
    return t;
}

void bs_tensor_free(bs_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data)
        bs_free(t->data);
    free(t);
}
