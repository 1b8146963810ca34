# mk/fuzz.mk - libFuzzer harnesses for every input parser (fuzz/*.c).
#
#   make fuzz                       build fuzz/build/fuzz_<harness> with clang
#   make fuzz-run FUZZ_SECONDS=30   run each harness seeded from fuzz/corpus/
#   make fuzz-run FUZZ_RUNS=1000000 a fixed number of executions instead
#   make fuzz-regress               replay the committed corpus once (fast)
#
# The work is done by fuzz/fuzz.make (GNU make, outside automake), which
# compiles the library a second time with clang and
# -fsanitize=fuzzer-no-link,address,undefined; the normal build is untouched.
# Needs clang, libclang-rt-14-dev and libomp-dev (tools/install-deps.sh).
FUZZ_CC = clang
FUZZ_PLUGINS = \
	nifti_source=$(plugins_nifti_source_la_SOURCES) \
	atlas_grid=$(plugins_atlas_grid_la_SOURCES) \
	atlas_label=$(plugins_atlas_label_la_SOURCES) \
	atlas_prob=$(plugins_atlas_prob_la_SOURCES) \
	clean=$(plugins_clean_la_SOURCES) \
	fc=$(plugins_fc_la_SOURCES) \
	pfc=$(plugins_pfc_la_SOURCES) \
	tsv=$(plugins_tsv_la_SOURCES) \
	safetensors=$(plugins_safetensors_la_SOURCES) \
	brainmass=$(plugins_brainmass_la_SOURCES) \
	brainmae=$(plugins_brainmae_la_SOURCES) \
	head=$(plugins_head_la_SOURCES) \
	test_plugin=$(plugins_test_plugin_la_SOURCES)
FUZZ_MAKE = $(MAKE) -f $(abs_top_srcdir)/fuzz/fuzz.make \
	SRCDIR='$(abs_top_srcdir)' FUZZ_CC='$(FUZZ_CC)' \
	LIB_SOURCES='$(libbrainstage_la_SOURCES)' \
	PLUGINS='$(FUZZ_PLUGINS)' \
	FUZZ_CPPFLAGS='-I$(abs_top_srcdir)/core -I$(abs_top_builddir) $(NIFTI_CPPFLAGS) $(OPENBLAS_CFLAGS) $(JANSSON_CFLAGS) -DBS_PLUGIN_DIR="\"$(pkglibdir)\"" -DBS_DATA_DIR="\"$(pkgdatadir)\""' \
	FUZZ_LIBS='$(NIFTI_LIBS) $(GSL_LIBS) $(OPENBLAS_LIBS) $(JANSSON_LIBS) $(DL_LIBS) -lm'

# '+': FUZZ_MAKE hides $(MAKE) from make's recursion detection (jobserver).
fuzz:
	+@$(FUZZ_MAKE) all
fuzz-run:
	+@$(FUZZ_MAKE) run
fuzz-regress:
	+@$(FUZZ_MAKE) regress
clean-fuzz:
	rm -rf fuzz/build
clean-local: clean-fuzz
.PHONY: fuzz fuzz-run fuzz-regress clean-fuzz

EXTRA_DIST += fuzz/fuzz.make fuzz/fuzz_common.h fuzz/make_seeds.py fuzz/corpus fuzz/dict \
	fuzz/fuzz_nifti.c fuzz/fuzz_tsv.c fuzz/fuzz_json.c fuzz/fuzz_safetensors.c \
	fuzz/fuzz_pipeline.c fuzz/fuzz_atlas.c
