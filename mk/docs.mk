# mk/docs.mk - user guide, man page, shipped pipelines, CI and install scripts.
dist_man_MANS += docs/brainstage.1
pipelinesdir = $(pkgdatadir)/pipelines
dist_pipelines_DATA = pipelines/timeseries.pipeline pipelines/fc.pipeline
EXTRA_DIST += docs/pipeline-files.md docs/plugin-abi.md tools/install-deps.sh .ci/run
