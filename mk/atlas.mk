# mk/atlas.mk - build fragment for the atlas area (included by Makefile.am).
# Atlas catalog, resampling to the BOLD grid, parcellations (label, prob,
# grid), the streaming ROI reducer, the atlas-* stage plugins, the atlas
# descriptors/label tables, tests and the parcellation benchmark.
libbrainstage_la_SOURCES += \
	core/atlas_catalog.c \
	core/atlas_parcellation.c \
	core/atlas_stage.c \
	core/atlas_stream.c \
	core/resample.c
libbrainstage_la_LIBADD += -lpthread
brainstageinclude_HEADERS += core/brainstage/atlas.h

pkglib_LTLIBRARIES += plugins/atlas_label.la plugins/atlas_prob.la plugins/atlas_grid.la
plugins_atlas_label_la_SOURCES = plugins/atlas-label/atlas_label.c
plugins_atlas_label_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_atlas_label_la_LIBADD = $(PLUGIN_LIBADD)
plugins_atlas_prob_la_SOURCES = plugins/atlas-prob/atlas_prob.c
plugins_atlas_prob_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_atlas_prob_la_LIBADD = $(PLUGIN_LIBADD)
plugins_atlas_grid_la_SOURCES = plugins/atlas-grid/atlas_grid.c
plugins_atlas_grid_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_atlas_grid_la_LIBADD = $(PLUGIN_LIBADD)

# Descriptors (<name>.atlas) and BIDS-style label tables, installed where
# bs_atlas_search_path() looks: $(pkgdatadir)/atlases.
atlasdir = $(pkgdatadir)/atlases
dist_atlas_DATA = \
	atlases/aal.atlas atlases/aal_dseg.tsv \
	atlases/aicha.atlas atlases/aicha_dseg.tsv \
	atlases/brodmann.atlas atlases/brodmann_dseg.tsv \
	atlases/harvardoxford.atlas atlases/harvardoxford_dseg.tsv \
	atlases/jhu.atlas atlases/jhu_dseg.tsv \
	atlases/jhu2mm.atlas atlases/jhu2mm_dseg.tsv
EXTRA_DIST += tools/make_atlas_tables.py docs/atlases.md

# tests/atlas_run dlopens a stage module and prints its output for the
# Python golden test.
check_PROGRAMS += tests/atlas_run
tests_atlas_run_LDADD = $(tests_ldadd) $(DL_LIBS)
TESTS += tests/atlas_golden.py
EXTRA_DIST += tests/atlas_golden.py

# Benchmark (not part of make check): one run prints brainstage, gzip -dc
# and the nibabel+numpy peer with ratios.  Generates its input once under
# BENCH_DIR (default /tmp/brainstage-bench-parcellate, ~0.6 GB).
EXTRA_DIST += bench/parcellate/bench_parcellate.py
BENCH_DIR = /tmp/brainstage-bench-parcellate
bench-parcellate: tests/atlas_run$(EXEEXT) plugins/atlas_label.la brainstage$(EXEEXT)
	$(BLAS_KERNELS_ENV) BRAINSTAGE_DATA_DIR='$(abs_top_srcdir)' $(PYTHON) $(srcdir)/bench/parcellate/bench_parcellate.py \
	  --run '$(abs_top_builddir)/tests/atlas_run' --module '$(abs_top_builddir)/plugins/.libs/atlas_label.so' \
	  --dir '$(BENCH_DIR)' --python '$(PYTHON)'
.PHONY: bench-parcellate

check_PROGRAMS += tests/test_atlas_catalog
tests_test_atlas_catalog_LDADD = $(tests_ldadd)
TESTS += tests/test_atlas_catalog
