# require_numpy.sh - sourced by shell tests that generate inputs with numpy
# and nibabel: sets PY; without the modules, skips (77), or fails when
# BRAINSTAGE_REQUIRE_PYTHON=1 (CI).
PY="${PYTHON:-/usr/bin/python3}"
if ! "$PY" -c 'import numpy, nibabel' 2>/dev/null; then
    echo "numpy/nibabel missing for $PY: the test inputs cannot be generated"
    [ "${BRAINSTAGE_REQUIRE_PYTHON:-0}" = 1 ] && exit 1
    exit 77
fi
