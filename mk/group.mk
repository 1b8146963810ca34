# mk/group.mk - group-level CLI commands (pretrain, embed, evaluate, bids):
# their end-to-end test, the demo script and docs.  The sources are listed
# in mk/cli.mk (brainstage_SOURCES).
TESTS += tests/cli_group.sh
EXTRA_DIST += tests/cli_group.sh scripts/demo.sh docs/group-level.md

# The README's end-to-end demo (not part of make check: minutes, not seconds).
demo: brainstage
	BRAINSTAGE='$(abs_top_builddir)/brainstage' \
	BRAINSTAGE_PLUGIN_PATH='$(abs_top_builddir)/plugins/.libs' \
	BRAINSTAGE_DATA_DIR='$(abs_top_srcdir)' \
	$(SHELL) $(top_srcdir)/scripts/demo.sh $(DEMO_ARGS)
.PHONY: demo

# The issue-5 cohort table (not part of make check: tens of minutes).
# COHORT_ARGS passes a work folder; the sizes come from the environment
# (see scripts/cohort_table.sh).
cohort-table: brainstage
	BRAINSTAGE='$(abs_top_builddir)/brainstage' \
	BRAINSTAGE_PLUGIN_PATH='$(abs_top_builddir)/plugins/.libs' \
	BRAINSTAGE_DATA_DIR='$(abs_top_srcdir)' \
	$(SHELL) $(top_srcdir)/scripts/cohort_table.sh $(COHORT_ARGS)
.PHONY: cohort-table
EXTRA_DIST += scripts/cohort_table.sh
