# mk/safetensors.mk - build fragment for the safetensors area (included by Makefile.am).
