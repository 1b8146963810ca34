# mk/core.mk - libbrainstage core runtime: errors, tensors, logging, RNG,
# data objects, files, TSV, plugin registry, pipeline parser and runner.
libbrainstage_la_SOURCES += \
	core/error.c \
	core/tensor.c \
	core/log.c \
	core/rng.c \
	core/data.c \
	core/fileio.c \
	core/tsv.c

brainstageinclude_HEADERS += \
	core/brainstage/error.h \
	core/brainstage/tensor.h \
	core/brainstage/log.h \
	core/brainstage/rng.h \
	core/brainstage/data.h \
	core/brainstage/fileio.h \
	core/brainstage/tsv.h \
	core/brainstage/plugin.h \
	core/brainstage/nifti.h \
	core/brainstage/safetensors.h
