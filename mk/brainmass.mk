# mk/brainmass.mk - build fragment for the brainmass area (included by Makefile.am).
#
# BrainMass model (core/brainmass/), the `brainmass` stage plugin, the
# PyTorch golden test (tests/brainmass_golden.py drives
# tests/test_brainmass_golden) and the C-vs-PyTorch benchmark.
libbrainstage_la_SOURCES += \
	core/brainmass/bm_internal.h \
	core/brainmass/bm_encoder.c \
	core/brainmass/bm_model.c \
	core/brainmass/bm_forward.c \
	core/brainmass/bm_optim.c \
	core/brainmass/bm_checkpoint.c \
	core/brainmass/bm_pretrain.c
brainstageinclude_HEADERS += core/brainstage/brainmass.h

check_PROGRAMS += tests/test_brainmass_golden tests/test_brainmass
tests_test_brainmass_golden_LDADD = $(tests_ldadd) $(DL_LIBS)
tests_test_brainmass_LDADD = $(tests_ldadd) $(DL_LIBS)
TESTS += tests/test_brainmass tests/brainmass_golden.py tests/brainmass_convert.py tests/brainmass_interp.py
EXTRA_DIST += tests/brainmass_golden.py tests/brainmass_ref.py tests/brainmass_st.py \
	tests/brainmass_convert.py tests/brainmass_interp.py tools/pth2safetensors.py docs/brainmass.md

# Benchmark (not part of make check's TESTS): C vs PyTorch CPU.
check_PROGRAMS += bench/brainmass/bench_brainmass
bench_brainmass_bench_brainmass_LDADD = $(tests_ldadd)
EXTRA_DIST += bench/brainmass/bench.py
# $(BLAS_KERNELS_ENV) (Makefile.am) gives both sides the CLI's OpenBLAS kernels.
bench-brainmass: bench/brainmass/bench_brainmass$(EXEEXT) brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) $(PYTHON) $(srcdir)/bench/brainmass/bench.py --c-bench bench/brainmass/bench_brainmass$(EXEEXT)
.PHONY: bench-brainmass

pkglib_LTLIBRARIES += plugins/brainmass.la
plugins_brainmass_la_SOURCES = plugins/brainmass/brainmass_stage.c
plugins_brainmass_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_brainmass_la_LIBADD = $(PLUGIN_LIBADD)
