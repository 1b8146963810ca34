# mk/nifti.mk - build fragment for the nifti area (included by Makefile.am).
