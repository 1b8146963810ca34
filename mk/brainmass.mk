# mk/brainmass.mk - build fragment for the brainmass area (included by Makefile.am).
