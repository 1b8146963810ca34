# mk/core.mk - libbrainstage core runtime: errors, tensors, logging, RNG,
# data objects, files, TSV, plugin registry, pipeline parser and runner.
libbrainstage_la_SOURCES += \
	core/error.c \
	core/tensor.c \
	core/log.c \
	core/rng.c \
	core/data.c \
	core/fileio.c \
	core/tsv.c \
	core/suggest.c \
	core/init.c \
	core/blas_tune.c \
	core/params.c \
	core/registry.c \
	core/pipeline_parse.c \
	core/pipeline_graph.c

brainstageinclude_HEADERS += \
	core/brainstage/error.h \
	core/brainstage/tensor.h \
	core/brainstage/log.h \
	core/brainstage/blas.h \
	core/brainstage/rng.h \
	core/brainstage/data.h \
	core/brainstage/fileio.h \
	core/brainstage/tsv.h \
	core/brainstage/plugin.h \
	core/brainstage/nifti.h \
	core/brainstage/safetensors.h \
	core/brainstage/params.h \
	core/brainstage/registry.h \
	core/brainstage/pipeline.h

libbrainstage_la_SOURCES += core/bids.c
brainstageinclude_HEADERS += core/brainstage/bids.h

# ---- foundation plugins ----
pkglib_LTLIBRARIES += plugins/nifti_source.la plugins/tsv.la plugins/safetensors.la
plugins_nifti_source_la_SOURCES = plugins/nifti-source/nifti_source.c
plugins_nifti_source_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_nifti_source_la_LIBADD = $(PLUGIN_LIBADD)
plugins_tsv_la_SOURCES = plugins/tsv/tsv_sink.c
plugins_tsv_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_tsv_la_LIBADD = $(PLUGIN_LIBADD) $(JANSSON_LIBS)
plugins_safetensors_la_SOURCES = plugins/safetensors/safetensors_sink.c
plugins_safetensors_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_safetensors_la_LIBADD = $(PLUGIN_LIBADD) $(JANSSON_LIBS)

# ---- test-only plugin modules (never installed) ----
# -rpath makes libtool build a shared module even though it is not installed.
check_LTLIBRARIES += plugins/test_plugin.la tests/plugins/bad_abi.la tests/plugins/no_entry.la
plugins_test_plugin_la_SOURCES = plugins/test-plugin/test_plugin.c
plugins_test_plugin_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
plugins_test_plugin_la_LIBADD = $(PLUGIN_LIBADD)
tests_plugins_bad_abi_la_SOURCES = plugins/test-plugin/bad_abi.c
tests_plugins_bad_abi_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_bad_abi_la_LIBADD = $(PLUGIN_LIBADD)
tests_plugins_no_entry_la_SOURCES = plugins/test-plugin/no_entry.c
tests_plugins_no_entry_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# ---- core tests ----
check_PROGRAMS += tests/test_pipeline_parse tests/test_plugin_loader tests/test_core
tests_test_pipeline_parse_SOURCES = tests/test_pipeline_parse.c tests/testutil.h
tests_test_pipeline_parse_LDADD = $(tests_ldadd)
tests_test_plugin_loader_SOURCES = tests/test_plugin_loader.c tests/testutil.h
tests_test_plugin_loader_LDADD = $(tests_ldadd)
tests_test_core_SOURCES = tests/test_core.c tests/testutil.h
tests_test_core_LDADD = $(tests_ldadd)
TESTS += tests/test_pipeline_parse tests/test_plugin_loader tests/test_core
TESTS += tests/cli.sh
EXTRA_DIST += tests/cli.sh
