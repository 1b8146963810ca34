# mk/brainmae.mk - build fragment for the brainmae area (included by Makefile.am).
#
# BrainMAE: region-aware graph attention op (core/brainmae/region_attention*),
# threading policy and split GEMMs (par.c), fused dense ops (layer_ops*,
# ops.c), model forward/backward/AdamW (model.c); tests are double-precision
# finite-difference checks of the new ops (test_brainmae_ops, _kernels) and a
# PyTorch golden test (tests/brainmae_golden.py drives tests/test_brainmae_golden).
libbrainstage_la_SOURCES += \
	core/brainmae/region_attention.c \
	core/brainmae/region_attention_impl.h \
	core/brainmae/par.c \
	core/brainmae/par.h \
	core/brainmae/ops.c \
	core/brainmae/ops.h \
	core/brainmae/layer_ops.c \
	core/brainmae/layer_ops_impl.h \
	core/brainmae/model.c \
	core/brainmae/model_internal.h \
	core/brainmae/data.c \
	core/brainmae/checkpoint.c \
	core/brainmae/checkpoint.h \
	core/brainmae/train.c \
	core/brainmae/infer.c \
	core/brainmae/synth.c
brainstageinclude_HEADERS += core/brainstage/brainmae.h

check_PROGRAMS += tests/test_brainmae_ops tests/test_brainmae_kernels tests/test_brainmae_golden \
	tests/test_brainmae_train tests/test_brainmae_synth tests/test_brainmae_plugin
tests_test_brainmae_kernels_LDADD = $(tests_ldadd)
tests_test_brainmae_plugin_LDADD = $(tests_ldadd)
tests_test_brainmae_ops_LDADD = $(tests_ldadd)
tests_test_brainmae_golden_LDADD = $(tests_ldadd)
tests_test_brainmae_train_LDADD = $(tests_ldadd)
tests_test_brainmae_synth_LDADD = $(tests_ldadd)
TESTS += tests/test_brainmae_ops tests/test_brainmae_kernels tests/brainmae_golden.py \
	tests/test_brainmae_train \
	tests/test_brainmae_synth tests/test_brainmae_plugin
EXTRA_DIST += tests/brainmae_golden.py tests/brainmae_ref.py

# the `brainmae` stage (inference with a pretrained checkpoint)
pkglib_LTLIBRARIES += plugins/brainmae.la
plugins_brainmae_la_SOURCES = plugins/brainmae/brainmae_stage.c
plugins_brainmae_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_brainmae_la_LIBADD = $(PLUGIN_LIBADD)

# benchmark: C vs PyTorch CPU training step (not part of make check)
check_PROGRAMS += bench/brainmae/bench_brainmae
bench_brainmae_bench_brainmae_LDADD = $(tests_ldadd)
EXTRA_DIST += bench/brainmae/bench.py docs/brainmae.md
bench-brainmae: bench/brainmae/bench_brainmae$(EXEEXT) brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) top_builddir=$(abs_top_builddir) $(PYTHON) $(srcdir)/bench/brainmae/bench.py --config medium
	$(BLAS_KERNELS_ENV) top_builddir=$(abs_top_builddir) $(PYTHON) $(srcdir)/bench/brainmae/bench.py --config medium --dropout 0.1
	$(BLAS_KERNELS_ENV) top_builddir=$(abs_top_builddir) $(PYTHON) $(srcdir)/bench/brainmae/bench.py --config tiny --steps 20
.PHONY: bench-brainmae
