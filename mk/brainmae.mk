# mk/brainmae.mk - build fragment for the brainmae area (included by Makefile.am).
