/* blas.h - which OpenBLAS kernels are in use, and a better choice when
 * OpenBLAS's own CPU detection fell back to generic ones.
 *
 * OpenBLAS picks its kernels once, when the library is loaded, from the CPU
 * model number.  A release older than the CPU does not know the model and
 * falls back to its slowest generic (SSE3 "Prescott") kernels: Debian 12's
 * OpenBLAS 0.3.21 does so on current Intel Xeons, where sgemm then runs
 * 6-7x below the speed of the AVX-512 kernels that the same library ships.
 * The kernel family can only be forced through the OPENBLAS_CORETYPE
 * environment variable before the library loads, so a program that wants
 * the fix must re-execute itself (the brainstage CLI does; see
 * brainstage(1), ENVIRONMENT). */
#ifndef BRAINSTAGE_BLAS_H
#define BRAINSTAGE_BLAS_H

/* The kernel family OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...),
 * or "unknown" when the BLAS in use is not OpenBLAS. */
const char *bs_blas_corename(void);

/* The OPENBLAS_CORETYPE value that would give faster, still supported kernels
 * on this CPU, or NULL when there is nothing to gain: OPENBLAS_CORETYPE is
 * already set, the BLAS is not OpenBLAS, OpenBLAS already uses kernels that
 * match the CPU's vector units, or the CPU is not x86-64. */
const char *bs_blas_better_coretype(void);

#endif
