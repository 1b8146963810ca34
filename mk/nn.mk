# mk/nn.mk - build fragment for the nn area (included by Makefile.am).
