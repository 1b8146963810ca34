/* nn/elementwise.c - residual and broadcast adds, softmax, log_softmax.
 *
 * Bodies in elementwise_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

#include "nn/elementwise_impl.h"
#define NN_DOUBLE
#include "nn/elementwise_impl.h"
#undef NN_DOUBLE
