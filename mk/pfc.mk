# mk/pfc.mk - build fragment for the pfc area (included by Makefile.am).
