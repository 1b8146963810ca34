# mk/nifti.mk - build fragment for the nifti area (included by Makefile.am).
# NIfTI-1/-2 reading (streaming, every real/integer datatype -> float32) and
# atomic NIfTI-1 writing through nifticlib's NIfTI-2 API.
libbrainstage_la_SOURCES += core/nifti_read.c core/nifti_write.c
# (core/brainstage/nifti.h is installed by mk/core.mk)

# tests/nifti_dump prints a header and dumps voxels for the Python checks.
check_PROGRAMS += tests/nifti_dump
tests_nifti_dump_LDADD = $(tests_ldadd)
TESTS += tests/nifti_golden.py
EXTRA_DIST += tests/nifti_golden.py
TESTS += tests/nifti_bad_input.py
EXTRA_DIST += tests/nifti_bad_input.py
EXTRA_DIST += docs/nifti.md
