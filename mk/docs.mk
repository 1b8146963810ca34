# mk/docs.mk - user guide and man pages.
