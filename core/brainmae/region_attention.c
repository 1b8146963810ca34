/* core/brainmae/region_attention.c - the region-aware graph attention op of
 * BrainMAE (static adjacency from ROI embeddings, values from node features),
 * forward and backward, in float (model) and double (gradient checks). */
#include "brainstage/brainmae.h"
#include "par.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

#define REAL float
#define SFX _f32
/* the model's float products go through the split GEMM (par.h) */
#define GEMM(order, ...) mae_sgemm(__VA_ARGS__)
#define GEMM1(...) cblas_sgemm(CblasRowMajor, __VA_ARGS__)
#include "region_attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM1

#define REAL double
#define SFX _f64
#define GEMM cblas_dgemm
#define GEMM1(...) cblas_dgemm(CblasRowMajor, __VA_ARGS__)
#include "region_attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM1
