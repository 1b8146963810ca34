/* brainstage/tensor.h - dense float32 tensors, row-major (C order).
 *
 * A tensor either owns its buffer (freed with the tensor) or borrows it
 * (the caller keeps the memory alive).  Owned buffers are 64-byte aligned
 * so BLAS and vector loops get full-width loads. */
#ifndef BRAINSTAGE_TENSOR_H
#define BRAINSTAGE_TENSOR_H

#include <stdint.h>
#include <stddef.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BS_TENSOR_MAX_DIMS 8

typedef struct bs_tensor {
    int ndim;
    int64_t shape[BS_TENSOR_MAX_DIMS];
    float *data;
    int owns_data;
} bs_tensor;

/* Zero-filled owned tensor; NULL with err set on overflow/allocation failure. */
bs_tensor *bs_tensor_new(int ndim, const int64_t *shape, bs_error *err);
bs_tensor *bs_tensor_new_1d(int64_t n0, bs_error *err);
bs_tensor *bs_tensor_new_2d(int64_t n0, int64_t n1, bs_error *err);
bs_tensor *bs_tensor_new_3d(int64_t n0, int64_t n1, int64_t n2, bs_error *err);
/* Borrowed view over caller memory. */
bs_tensor *bs_tensor_wrap(float *data, int ndim, const int64_t *shape, bs_error *err);
bs_tensor *bs_tensor_clone(const bs_tensor *t, bs_error *err);
void bs_tensor_free(bs_tensor *t);

int64_t bs_tensor_numel(const bs_tensor *t);
/* Element count of a shape; -1 when a dimension is negative or the product
 * overflows int64 or size_t bytes of float. */
int64_t bs_shape_numel(int ndim, const int64_t *shape);

/* 64-byte aligned allocation of n floats (zeroed); free with bs_free. */
float *bs_alloc_floats(size_t n);
void *bs_alloc_aligned(size_t bytes);
void bs_free(void *p);

/* a*b with overflow detection: returns 0 on overflow, 1 otherwise. */
int bs_mul_size(size_t a, size_t b, size_t *out);

#ifdef __cplusplus
}
#endif
#endif
