# mk/cli.mk - the brainstage command-line program.
bin_PROGRAMS += brainstage
brainstage_SOURCES = tools/brainstage/main.c
brainstage_LDADD = libbrainstage.la
