# mk/signal.mk - build fragment for the signal area (included by Makefile.am).
