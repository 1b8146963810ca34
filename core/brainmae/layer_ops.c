/* core/brainmae/layer_ops.c - BrainMAE's fused transformer ops
 * (layer_ops_impl.h) in float for the model and in double (suffix _d) for
 * the finite-difference gradient checks. */
#include "ops.h"
#include "par.h"

#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

/* exp(x) for x <= 0, inlined so that the loops calling it vectorise (a
 * call, even to an OpenMP simd clone, costs more than the arithmetic).
 * x = n ln2 + r with n = round(x / ln2) and ln2 split in two so that r is
 * exact (|r| <= ln2 / 2), exp(r) by its Taylor series to r^6 (relative
 * error below 1.3e-7), 2^n written into the exponent bits.  Arguments below
 * -87.3 give about 1e-38 instead of 0 (harmless for softmax and tanh); NaN
 * stays NaN. */
static inline __attribute__((always_inline)) float mae_exp_neg(float x)
{
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float xc = x < -87.3f ? -87.3f : x;
    const float shifted = xc * 1.44269504088896341f + round_magic;
    const float n = shifted - round_magic;
    const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    const float p =
        ((((((1.0f / 720) * r + 1.0f / 120) * r + 1.0f / 24) * r + 1.0f / 6) * r + 0.5f) * r +
         1.0f) * r + 1.0f;
    uint32_t bits; /* unsigned: NaN's bit pattern must not overflow a signed shift */
    memcpy(&bits, &shifted, sizeof bits); /* = bits(round_magic) + n */
    bits = (bits - 0x4B400000U + 127U) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

/* tanh(u) = sign(u) (1 - e) / (1 + e) with e = exp(-2|u|) <= 1; absolute
 * error about 2e-7. */
static inline __attribute__((always_inline)) float mae_tanhf(float u)
{
    const float e = mae_exp_neg(-2.0f * fabsf(u)), t = (1.0f - e) / (1.0f + e);
    return copysignf(t, u);
}

#define REAL float
#define FN(name) name
#define SQRT sqrtf
#define TANH mae_tanhf
#define EXP_NEG mae_exp_neg
#define GEMM1(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc) \
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc)
#include "layer_ops_impl.h"

#define REAL double
#define FN(name) name##_d
#define SQRT sqrt
#define TANH tanh
#define EXP_NEG exp
#define GEMM1(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc) \
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc)
#include "layer_ops_impl.h"
