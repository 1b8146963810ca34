# fuzz/fuzz.make - libFuzzer harnesses (GNU make; run through `make fuzz`
# and `make fuzz-run` from the top build folder, see mk/fuzz.mk and
# docs/reliability.md).
#
# The library sources and the plugin sources are compiled a second time with
# clang under -fsanitize=fuzzer-no-link,address,undefined into an archive in
# fuzz/build/, so the ordinary (gcc) build is untouched.  The caller passes:
#   SRCDIR       top source folder (absolute)
#   LIB_SOURCES  libbrainstage's sources relative to SRCDIR (headers are ignored)
#   PLUGINS      module=source pairs compiled into fuzz_pipeline
#   FUZZ_CPPFLAGS, FUZZ_LIBS   include flags and libraries of the normal build
# Build outputs go to fuzz/build/ under the current (build) folder.

FUZZ_CC ?= clang
O := fuzz/build
HARNESSES := nifti tsv json safetensors pipeline atlas

# -O1 -g: usable stack traces at a fraction of -O0's cost.  UBSan aborts on
# the first report so libFuzzer saves the input.  OpenMP stays on: the
# sources include <omp.h> unconditionally (clang needs libomp-dev).
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS ?= -O1 -g
ALL_CFLAGS := -std=gnu11 -fopenmp $(SAN) $(FUZZ_CFLAGS) -Wno-pass-failed -MMD -MP
LIB_CFLAGS := $(ALL_CFLAGS) -fsanitize=fuzzer-no-link
LIB_OBJS := $(patsubst %.c,$(O)/lib/%.o,$(filter %.c,$(LIB_SOURCES)))

all: $(HARNESSES:%=$(O)/fuzz_%)

$(O)/lib/%.o: $(SRCDIR)/%.c
	@mkdir -p $(@D)
	@echo "  CC-FUZZ  $<"
	@$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(O)/libfuzzcore.a: $(LIB_OBJS)
	@rm -f $@
	@echo "  AR-FUZZ  $@"
	@ar rcs $@ $^

# plugins/<dir>/<file>.c -> fuzz/build/plugins/<module>.o with the entry renamed
PLUGIN_OBJS := $(foreach p,$(PLUGINS),$(O)/plugins/$(firstword $(subst =, ,$(p))).o)
define plugin_rule
$(O)/plugins/$(1).o: $(SRCDIR)/$(2)
	@mkdir -p $$(@D)
	@echo "  CC-FUZZ  $$<"
	@$$(FUZZ_CC) $$(FUZZ_CPPFLAGS) $$(LIB_CFLAGS) -Dbs_plugin_entry=fuzz_entry_$(1) -c $$< -o $$@
endef
$(foreach p,$(PLUGINS),$(eval $(call plugin_rule,$(firstword $(subst =, ,$(p))),$(lastword $(subst =, ,$(p))))))

$(O)/fuzz_pipeline: $(PLUGIN_OBJS)

# The archive goes last and is listed twice so objects that call back into
# earlier ones resolve without ordering the sources.
$(O)/fuzz_%: $(SRCDIR)/fuzz/fuzz_%.c $(SRCDIR)/fuzz/fuzz_common.h $(O)/libfuzzcore.a
	@mkdir -p $(@D)
	@echo "  LD-FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(ALL_CFLAGS) -fsanitize=fuzzer $< $(filter %.o,$^) \
	    $(O)/libfuzzcore.a $(O)/libfuzzcore.a $(FUZZ_LIBS) -o $@

# ---- seeds generated at build time: real Debian NIfTI headers --------------
# Header plus the first 4 KiB of data of every NIfTI test image that Debian's
# nibabel/nipy/mricron packages ship (absent files are skipped), unpacked so
# the fuzzer mutates the header rather than a deflate stream; the committed
# corpus (fuzz/corpus/nifti) holds small complete images, also gzipped.
DEBIAN_NIFTI := $(wildcard \
	/usr/lib/python3/dist-packages/nibabel/tests/data/*.nii \
	/usr/lib/python3/dist-packages/nibabel/tests/data/*.nii.gz \
	/usr/lib/python3/dist-packages/nipy/testing/*.nii.gz \
	/usr/share/mricron/templates/*.nii.gz)
$(O)/seeds/nifti/.stamp: $(DEBIAN_NIFTI)
	@mkdir -p $(@D)
	@for f in $(DEBIAN_NIFTI); do \
	    b=$$(basename "$$f"); \
	    case "$$f" in *.gz) gzip -dc "$$f" 2>/dev/null | head -c 4448 > "$(@D)/$$b.head" ;; \
	                  *) head -c 4448 "$$f" > "$(@D)/$$b.head" ;; esac; \
	done
	@touch $@

seeds: $(O)/seeds/nifti/.stamp

# ---- running -------------------------------------------------------------
# fuzz-run: every harness for FUZZ_SECONDS (default 30) or FUZZ_RUNS
# executions, seeded from the committed corpus; new inputs go to
# fuzz/build/corpus/<harness> (never into the source tree).  Crashes, leaks
# and timeouts are written to fuzz/build/crash/<harness>-* and fail the run.
FUZZ_SECONDS ?= 30
FUZZ_RUNS ?=
FUZZ_FLAGS ?=
FUZZ_LIMITS := -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1
run: all seeds
	@set -e; fail=0; \
	for h in $(HARNESSES); do \
	    mkdir -p $(O)/corpus/$$h $(O)/crash; \
	    seeds="$(SRCDIR)/fuzz/corpus/$$h"; \
	    [ $$h = nifti ] && seeds="$$seeds $(O)/seeds/nifti"; \
	    dict=""; [ -f "$(SRCDIR)/fuzz/dict/$$h.dict" ] && dict="-dict=$(SRCDIR)/fuzz/dict/$$h.dict"; \
	    limit="-max_total_time=$(FUZZ_SECONDS)"; [ -n "$(FUZZ_RUNS)" ] && limit="-runs=$(FUZZ_RUNS)"; \
	    echo "fuzz: $$h ($$limit)"; \
	    if ! $(O)/fuzz_$$h $$limit $(FUZZ_LIMITS) $$dict $(FUZZ_FLAGS) \
	            -artifact_prefix=$(O)/crash/$$h- $(O)/corpus/$$h $$seeds > $(O)/fuzz_$$h.log 2>&1; then \
	        echo "fuzz: $$h FAILED (see $(O)/fuzz_$$h.log)"; tail -n 40 $(O)/fuzz_$$h.log; fail=1; \
	    fi; \
	    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' \
	        $(O)/fuzz_$$h.log | sed "s/^/fuzz: $$h /" || true; \
	done; \
	exit $$fail

# regress: each harness once over its committed corpus only (fast; no
# mutation), which replays every regression input of a fixed bug.
regress: all
	@set -e; for h in $(HARNESSES); do \
	    $(O)/fuzz_$$h -runs=0 $(FUZZ_LIMITS) $(SRCDIR)/fuzz/corpus/$$h > $(O)/regress_$$h.log 2>&1 || \
	        { echo "fuzz: $$h regression corpus FAILED"; tail -n 40 $(O)/regress_$$h.log; exit 1; }; \
	    echo "fuzz: $$h corpus ok ($$(ls $(SRCDIR)/fuzz/corpus/$$h | wc -l) inputs)"; \
	done

.PHONY: all seeds run regress
-include $(LIB_OBJS:.o=.d) $(PLUGIN_OBJS:.o=.d)
