# mk/report.mk - per-subject and group HTML reports (docs/reports.md):
# the drawing library (inline SVG figures, safe text and numbers), the
# CLI side that reads a BIDS-App output folder, and their tests (C unit
# test and a real headless-Chromium render).
libbrainstage_la_SOURCES += \
	core/report_html.c \
	core/report_svg.c
brainstageinclude_HEADERS += core/brainstage/report.h

brainstage_SOURCES += \
	tools/brainstage/report.h \
	tools/brainstage/report_run.h \
	tools/brainstage/report_run.c \
	tools/brainstage/report_subject.c \
	tools/brainstage/report_pages.c \
	tools/brainstage/report_group.c
# the report reads JSON sidecars itself
brainstage_LDADD += $(JANSSON_LIBS)

check_PROGRAMS += tests/test_report
tests_test_report_LDADD = $(tests_ldadd)
TESTS += tests/test_report tests/report_browser.py
EXTRA_DIST += tests/report_browser.py tests/report_png.py docs/reports.md
