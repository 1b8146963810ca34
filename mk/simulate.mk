# mk/simulate.mk - `brainstage simulate`: fMRIPrep-shaped synthetic data with
# ground truth (docs/simulate.md).  The CLI command calls bs_simulate_dataset.
libbrainstage_la_SOURCES += \
	core/simulate.c \
	core/simulate_space.c \
	core/simulate_model.c \
	core/simulate_compcor.c
brainstageinclude_HEADERS += core/brainstage/simulate.h
EXTRA_DIST += core/brainstage/simulate_internal.h docs/simulate.md

# Driver for the Python checks (tests/simulate_check.py).
check_PROGRAMS += tests/test_simulate_tool
tests_test_simulate_tool_LDADD = $(tests_ldadd)
TESTS += tests/simulate_check.py
EXTRA_DIST += tests/simulate_check.py
TESTS += tests/simulate_pipeline.py
EXTRA_DIST += tests/simulate_pipeline.py
