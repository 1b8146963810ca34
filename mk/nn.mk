# mk/nn.mk - build fragment for the nn area (included by Makefile.am).
#
# The shared neural-network core: brainstage/nn.h (float API) and
# brainstage/nn_double.h (double twins for gradient checks).  Each op
# family lives in core/nn/<family>.c; type-generic op code sits in
# core/nn/<family>_impl.h and is instantiated twice (float, double) by
# core/nn/real_begin.h / real_end.h.
brainstageinclude_HEADERS += core/brainstage/nn.h core/brainstage/nn_double.h
