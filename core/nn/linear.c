/* nn/linear.c - linear layers (y = x W^T + b) and batched matmuls on BLAS.
 *
 * The op bodies live in linear_impl.h and are compiled twice: float (the
 * API) and double (the _d twins used by gradient checks). */
#include "nn/nn_internal.h"

#include "nn/linear_impl.h"
#define NN_DOUBLE
#include "nn/linear_impl.h"
#undef NN_DOUBLE
