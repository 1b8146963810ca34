/* nn/activation.c - pointwise activations (ReLU, LeakyReLU, GELU) and dropout.
 *
 * Bodies in activation_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

#include "nn/activation_impl.h"
#define NN_DOUBLE
#include "nn/activation_impl.h"
#undef NN_DOUBLE
