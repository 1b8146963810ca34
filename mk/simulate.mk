# mk/simulate.mk - build fragment for the simulate area (included by Makefile.am).
