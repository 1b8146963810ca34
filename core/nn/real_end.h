/* nn/real_end.h - undoes real_begin.h after one instantiation. */
#undef real
#undef FN
#undef R_EXP
#undef R_LOG
#undef R_SQRT
#undef R_TANH
#undef R_ERF
#undef R_FABS
#undef R_GEMM
#undef R_GEMV
