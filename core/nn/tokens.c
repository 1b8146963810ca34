/* nn/tokens.c - token plumbing: mask-token substitution, prepended cls/dist
 * tokens, row gathers, mean-pool over tokens, sinusoidal positions.
 *
 * Bodies in tokens_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

#include "nn/tokens_impl.h"
#define NN_DOUBLE
#include "nn/tokens_impl.h"
#undef NN_DOUBLE
