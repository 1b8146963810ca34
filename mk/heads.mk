# mk/heads.mk - build fragment for the heads area (included by Makefile.am).
