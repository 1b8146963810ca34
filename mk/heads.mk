# mk/heads.mk - build fragment for the heads area (included by Makefile.am):
# classifier/regression heads, evaluation (splits, metrics, reports), the
# `head` stage plugin and their tests.
libbrainstage_la_SOURCES += \
	core/heads.c \
	core/heads_lbfgs.c \
	core/heads_logreg.c \
	core/heads_svm.c \
	core/heads_ridge.c \
	core/heads_centroid.c \
	core/heads_mlp.c \
	core/heads_io.c \
	core/metrics.c \
	core/eval.c \
	core/eval_splits.c \
	core/eval_labels.c \
	core/eval_features.c \
	core/eval_report.c \
	core/eval_run.c

brainstageinclude_HEADERS += \
	core/brainstage/heads.h \
	core/brainstage/eval.h

EXTRA_DIST += core/brainstage/heads_internal.h

# `head` stage plugin: applies a saved head to embeddings / FC matrices.
pkglib_LTLIBRARIES += plugins/head.la
plugins_head_la_SOURCES = plugins/head/head_stage.c
plugins_head_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_head_la_LIBADD = $(PLUGIN_LIBADD)

# ---- tests ----
# test_heads_tool is a driver for the Python cross-checks, not a test itself.
check_PROGRAMS += tests/test_heads_tool tests/test_heads tests/test_eval tests/test_heads_plugin
tests_test_heads_plugin_LDADD = $(tests_ldadd)
tests_test_heads_tool_LDADD = $(tests_ldadd)
tests_test_heads_LDADD = $(tests_ldadd)
tests_test_eval_LDADD = $(tests_ldadd)
TESTS += tests/test_heads tests/test_eval tests/test_heads_plugin tests/heads_sklearn.py tests/eval_sklearn.py
EXTRA_DIST += tests/heads_common.py tests/heads_sklearn.py tests/eval_sklearn.py docs/heads.md

# ---- benchmark (not part of make check) ----
# 5-fold CV of each head on 200 x 4950 FC features, brainstage vs sklearn.
bench-heads: tests/test_heads_tool brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) top_builddir='$(abs_top_builddir)' $(PYTHON) $(top_srcdir)/bench/heads/bench_heads.py
.PHONY: bench-heads
EXTRA_DIST += bench/heads/bench_heads.py

# ---- fine-tuning a pretrained BrainMass encoder with a classifier head ----
# (new files beside the BrainMass model; they call its encoder entry points)
libbrainstage_la_SOURCES += \
	core/brainmass/bm_finetune_internal.h \
	core/brainmass/bm_finetune_head_impl.h \
	core/brainmass/bm_finetune_head.c \
	core/brainmass/bm_finetune.c \
	core/brainmass/bm_finetune_io.c \
	core/brainmass/bm_finetune_train.c \
	core/eval_finetune.c
brainstageinclude_HEADERS += core/brainstage/brainmass_finetune.h
check_PROGRAMS += tests/test_finetune_grad tests/test_finetune
tests_test_finetune_grad_LDADD = $(tests_ldadd)
tests_test_finetune_LDADD = $(tests_ldadd)
TESTS += tests/test_finetune_grad tests/test_finetune
# PyTorch golden test of fine-tuning (tests/finetune_golden.py drives tests/test_finetune_golden).
check_PROGRAMS += tests/test_finetune_golden
tests_test_finetune_golden_LDADD = $(tests_ldadd)
TESTS += tests/finetune_golden.py
EXTRA_DIST += tests/finetune_golden.py
