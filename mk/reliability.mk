# mk/reliability.mk - bad input, crash safety and long-running behaviour
# (docs/reliability.md).  Fuzzing lives in mk/fuzz.mk.
#
#   tests/bad-inputs/run.sh   table-driven bad-input test (cases.tsv)
#   tests/resume_kill.sh      SIGKILL mid-training, --resume, identical losses
#   tests/kill_outputs.sh     SIGKILL mid-write leaves no partial final-named file
#   tests/soak.py             60-subject participant level, RSS sampled: no growth
TESTS += tests/bad-inputs/run.sh tests/resume_kill.sh tests/kill_outputs.sh tests/soak.py
EXTRA_DIST += tests/bad-inputs/run.sh tests/bad-inputs/cases.tsv tests/bad-inputs/make_inputs.py \
	tests/resume_kill.sh tests/kill_outputs.sh tests/check_outputs.py tests/soak.py

# make valgrind: a representative subset under valgrind memcheck, zero errors
# and no definitely/indirectly lost blocks (tests/valgrind.sh; CI runs it).
valgrind: all
	@$(AM_TESTS_ENVIRONMENT) LIBTOOL='$(abs_top_builddir)/libtool' $(SHELL) $(srcdir)/tests/valgrind.sh
.PHONY: valgrind
EXTRA_DIST += tests/valgrind.sh tests/require_numpy.sh docs/reliability.md
