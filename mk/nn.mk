# mk/nn.mk - build fragment for the nn area (included by Makefile.am).
#
# The shared neural-network core: brainstage/nn.h (float API) and
# brainstage/nn_double.h (double twins for gradient checks).  Each op
# family lives in core/nn/<family>.c; type-generic op code sits in
# core/nn/<family>_impl.h and is instantiated twice (float, double) by
# core/nn/real_begin.h / real_end.h.
brainstageinclude_HEADERS += core/brainstage/nn.h core/brainstage/nn_double.h
libbrainstage_la_SOURCES += \
	core/nn/nn_internal.h core/nn/real_begin.h core/nn/real_end.h \
	core/nn/linear.c core/nn/linear_impl.h \
	core/nn/norm.c core/nn/norm_impl.h \
	core/nn/activation.c core/nn/activation_impl.h \
	core/nn/elementwise.c core/nn/elementwise_impl.h \
	core/nn/attention.c core/nn/attention_impl.h \
	core/nn/tokens.c core/nn/tokens_impl.h \
	core/nn/loss.c core/nn/loss_impl.h \
	core/nn/params.c core/nn/params_io.c core/nn/init.c \
	core/nn/optim.c core/nn/threads.c

# ---- tests ----
# Finite-difference gradient checks (double twins) of every op's backward.
check_PROGRAMS += tests/test_nn_gradcheck
tests_test_nn_gradcheck_LDADD = $(tests_ldadd)
TESTS += tests/test_nn_gradcheck
# Param table, checkpoints, EMA, schedules, clipping, dropout, determinism.
check_PROGRAMS += tests/test_nn_misc
tests_test_nn_misc_LDADD = $(tests_ldadd)
TESTS += tests/test_nn_misc
# Golden test vs PyTorch: nn_golden.py writes the references and runs the
# C driver test_nn_golden (built here, not run on its own).
check_PROGRAMS += tests/test_nn_golden
tests_test_nn_golden_LDADD = $(tests_ldadd)
TESTS += tests/nn_golden.py
EXTRA_DIST += tests/nn_golden.py

# ---- benchmark (built with the checks, run only by `make bench-nn`) ----
check_PROGRAMS += bench/nn/bench_nn
bench_nn_bench_nn_SOURCES = bench/nn/bench_nn.c
bench_nn_bench_nn_LDADD = $(tests_ldadd)
EXTRA_DIST += bench/nn/bench_nn.py bench/nn/torch_threads.py docs/nn.md
bench-nn: bench/nn/bench_nn$(EXEEXT) brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) top_builddir='$(abs_top_builddir)' $(PYTHON) $(srcdir)/bench/nn/bench_nn.py --threads 2
.PHONY: bench-nn
