# mk/signal.mk - denoising (clean) and functional connectivity (fc).
# docs/clean.md and docs/fc.md describe the methods and parameters.
libbrainstage_la_SOURCES += \
	core/clean.c \
	core/clean_confounds.c \
	core/clean_interpolate.c \
	core/clean_regress.c \
	core/filter_butterworth.c \
	core/fc.c \
	core/fc_partial.c \
	core/tsv_relmat.c
brainstageinclude_HEADERS += core/brainstage/clean.h core/brainstage/fc.h

# Helper for the Python golden checks (not a test by itself).
check_PROGRAMS += tests/test_clean_tool
tests_test_clean_tool_LDADD = $(tests_ldadd)
TESTS += tests/clean_reference.py tests/fc_reference.py
EXTRA_DIST += tests/clean_reference.py tests/fc_reference.py docs/clean.md docs/fc.md

# XCP-D-style outputs of the shipped pipelines (coverage, relmat names,
# seg- naming, atlas labels), reading relmats/time series back in both
# namings, and the issue's bad inputs end to end through the CLI.
TESTS += tests/xcpd_outputs.py
EXTRA_DIST += tests/xcpd_outputs.py

check_PROGRAMS += tests/test_clean_errors
tests_test_clean_errors_LDADD = $(tests_ldadd)
TESTS += tests/test_clean_errors

check_PROGRAMS += tests/test_clean_acompcor
tests_test_clean_acompcor_LDADD = $(tests_ldadd)
TESTS += tests/test_clean_acompcor

pkglib_LTLIBRARIES += plugins/clean.la plugins/fc.la
plugins_clean_la_SOURCES = plugins/clean/clean_stage.c
plugins_clean_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_clean_la_LIBADD = $(PLUGIN_LIBADD)
plugins_fc_la_SOURCES = plugins/fc/fc_stage.c
plugins_fc_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_fc_la_LIBADD = $(PLUGIN_LIBADD)

# Benchmark (not part of make check): clean + fc vs a numpy/scipy peer.
EXTRA_DIST += bench/clean/bench_clean.py
bench-clean: tests/test_clean_tool brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) top_builddir='$(abs_top_builddir)' OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) $(srcdir)/bench/clean/bench_clean.py
.PHONY: bench-clean
