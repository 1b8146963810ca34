/* core/brainmae/region_attention.c - the region-aware graph attention op of
 * BrainMAE (static adjacency from ROI embeddings, values from node features),
 * forward and backward, in float (model) and double (gradient checks). */
#include "brainstage/brainmae.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define REAL float
#define SFX _f32
#define GEMM cblas_sgemm
#include "region_attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM

#define REAL double
#define SFX _f64
#define GEMM cblas_dgemm
#include "region_attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM
