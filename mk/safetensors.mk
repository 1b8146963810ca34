# mk/safetensors.mk - build fragment for the safetensors area (included by Makefile.am).
#
# Strict reader (mmap or memory image), collecting writer and streaming
# writer.  The public header is listed in mk/core.mk.
libbrainstage_la_SOURCES += \
	core/safetensors.c \
	core/safetensors_dtype.c \
	core/safetensors_write.c

check_PROGRAMS += tests/test_safetensors tests/test_safetensors_tool
tests_test_safetensors_LDADD = $(tests_ldadd)
tests_test_safetensors_tool_LDADD = $(tests_ldadd)
TESTS += tests/test_safetensors tests/safetensors_crosscheck.py
EXTRA_DIST += tests/safetensors_crosscheck.py docs/safetensors.md
