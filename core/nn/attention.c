/* nn/attention.c - multi-head attention: fused scaled softmax core with
 * masks, dropout and saved probabilities, plus the MultiheadAttention wrapper.
 *
 * Bodies in attention_impl.h, compiled for float and double (_d). */
#include "nn/nn_internal.h"

/* The kernels pass GCC vector types between always_inline helpers; the
 * note about their (never used) out-of-line ABI is noise. */
#pragma GCC diagnostic ignored "-Wpsabi"

nn_attn_dims nn_attn_dims_packed(int B, int T, int H, int hd)
{
    long C = (long)H * hd;
    nn_attn_dims d;
    memset(&d, 0, sizeof d);
    d.B = B;
    d.H = H;
    d.Tq = T;
    d.Tk = T;
    d.hd = hd;
    d.q_ts = d.k_ts = d.v_ts = 3 * C;
    d.q_bs = d.k_bs = d.v_bs = 3 * C * T;
    d.o_ts = C;
    d.o_bs = C * T;
    return d;
}

#include "nn/attention_impl.h"
#define NN_DOUBLE
#include "nn/attention_impl.h"
#undef NN_DOUBLE
