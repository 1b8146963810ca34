# mk/pfc.mk - build fragment for the pfc area (included by Makefile.am).
#
# Pseudo-functional connectivity: core generator (brainstage/pfc.h), the
# `pfc` stage plugin, golden tests against numpy and the benchmark.
libbrainstage_la_SOURCES += core/pfc.c core/pfc_write.c
brainstageinclude_HEADERS += core/brainstage/pfc.h

pkglib_LTLIBRARIES += plugins/pfc.la
plugins_pfc_la_SOURCES = plugins/pfc/pfc_stage.c
plugins_pfc_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_pfc_la_LIBADD = $(PLUGIN_LIBADD) $(JANSSON_LIBS)

# tests/test_pfc_tool: computes pFCs and exports kept indices for Python.
check_PROGRAMS += tests/test_pfc tests/test_pfc_tool
tests_test_pfc_LDADD = $(tests_ldadd)
tests_test_pfc_tool_LDADD = $(tests_ldadd)
TESTS += tests/test_pfc tests/pfc_golden.py tests/pfc_stage.py
EXTRA_DIST += tests/pfc_golden.py tests/pfc_stage.py docs/pfc.md


# Not part of `make check`: one run prints brainstage vs numpy pFC/s.
bench-pfc: tests/test_pfc_tool brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) top_builddir='$(abs_top_builddir)' $(PYTHON) $(top_srcdir)/bench/pfc/bench_pfc.py
.PHONY: bench-pfc
EXTRA_DIST += bench/pfc/bench_pfc.py
