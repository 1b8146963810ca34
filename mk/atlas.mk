# mk/atlas.mk - build fragment for the atlas area (included by Makefile.am).
