/* nn/loss.c - losses: weighted MSE, cosine similarity / BYOL 2-2cos,
 * cross-entropy / InfoNCE over a logits matrix.
 *
 * Bodies in loss_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

#include "nn/loss_impl.h"
#define NN_DOUBLE
#include "nn/loss_impl.h"
#undef NN_DOUBLE
