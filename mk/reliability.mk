# mk/reliability.mk - bad input, crash safety and long-running behaviour
# (docs/reliability.md).  Fuzzing lives in mk/fuzz.mk.
#
#   tests/bad-inputs/run.sh   table-driven bad-input test (cases.tsv)
TESTS += tests/bad-inputs/run.sh
EXTRA_DIST += tests/bad-inputs/run.sh tests/bad-inputs/cases.tsv tests/bad-inputs/make_inputs.py
