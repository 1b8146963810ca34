/* nn/norm.c - LayerNorm and BatchNorm1d (training, eval, running statistics).
 *
 * Bodies in norm_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

#include "nn/norm_impl.h"
#define NN_DOUBLE
#include "nn/norm_impl.h"
#undef NN_DOUBLE
