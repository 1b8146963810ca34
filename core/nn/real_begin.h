/* nn/real_begin.h - element-type macros for one instantiation of an op family.
 *
 * Included at the top of every <family>_impl.h (no include guard on
 * purpose).  With NN_DOUBLE defined the code is compiled for double and every
 * public symbol gets the suffix _d; otherwise for float.  real_end.h undoes
 * the macros so the next instantiation starts clean. */
#ifdef NN_DOUBLE
#define real double
#define FN(name) name##_d
#define R_EXP exp
#define R_LOG log
#define R_SQRT sqrt
#define R_TANH tanh
#define R_ERF erf
#define R_FABS fabs
#define R_GEMM cblas_dgemm
#define R_GEMV cblas_dgemv
#else
#define real float
#define FN(name) name
#define R_EXP expf
#define R_LOG logf
#define R_SQRT sqrtf
#define R_TANH tanhf
#define R_ERF erff
#define R_FABS fabsf
#define R_GEMM cblas_sgemm
#define R_GEMV cblas_sgemv
#endif
