# mk/cli.mk - the brainstage command-line program.
bin_PROGRAMS += brainstage
brainstage_SOURCES = \
	tools/brainstage/cli.h \
	tools/brainstage/main.c \
	tools/brainstage/cli_common.c \
	tools/brainstage/commands.c \
	tools/brainstage/cmd_pipeline.c \
	tools/brainstage/cmd_plugins.c \
	tools/brainstage/cmd_simulate.c \
	tools/brainstage/cli_group.h \
	tools/brainstage/group_common.c \
	tools/brainstage/cmd_pretrain.c \
	tools/brainstage/cmd_embed.c \
	tools/brainstage/cmd_evaluate.c \
	tools/brainstage/cmd_bids.c
brainstage_LDADD = libbrainstage.la $(OPENBLAS_LIBS)
