#!/bin/sh
# cli.sh - the brainstage command line end to end on real NIfTI files from
# Debian packages, and every foundation bad-input case: each must exit with
# its documented status, print one error line naming the file and problem,
# and leave no output file behind.
set -u
BS="${BRAINSTAGE:?run through make check}"
export BRAINSTAGE_DATA_DIR="${top_srcdir:?}"
fails=0
checks=0
work=$(mktemp -d /tmp/bs-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect STATUS NEEDLE CMD... : exit status, one-line stderr containing NEEDLE
expect() {
    want=$1 needle=$2
    shift 2
    checks=$((checks + 1))
    "$@" >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$* -> exit $got, want $want: $(cat "$work/err")"
    grep -qF -- "$needle" "$work/err" || fail "$* -> stderr lacks '$needle': $(cat "$work/err")"
    lines=$(grep -c "error:" "$work/err")
    [ "$lines" -eq 1 ] || [ "$want" -eq 2 ] || fail "$* -> $lines error lines, want one"
}

# the outputs folder must stay empty after a failed run
expect_no_output() {
    checks=$((checks + 1))
    if [ -n "$(ls -A "$work/o" 2>/dev/null)" ]; then
        fail "partial output left behind: $(ls -A "$work/o")"
        rm -rf "$work/o"
    fi
}

NIB=/usr/lib/python3/dist-packages/nibabel/tests/data
NIPY=/usr/lib/python3/dist-packages/nipy/testing/functional.nii.gz
[ -f "$NIB/example4d.nii.gz" ] && [ -f "$NIPY" ] || {
    echo "nibabel/nipy test data missing (apt-get install python3-nibabel python3-nipy)"
    [ "${BRAINSTAGE_REQUIRE_PYTHON:-0}" = 1 ] && exit 1
    exit 77
}

checks=$((checks + 1))
"$BS" --version | grep -q "^brainstage .* (plugin ABI 1\.0, OpenBLAS kernels [^,]*, OMP_WAIT_POLICY [^)]*)$" || fail "--version"
checks=$((checks + 1))
"$BS" --help | grep -q "^  run PIPELINE" || fail "--help"
expect 2 "unknown option '--frobnicate'" "$BS" --frobnicate
expect 2 "unknown command 'rn'" "$BS" rn
expect 2 "--threads needs an integer >= 1" "$BS" --threads 0 plugins
checks=$((checks + 1))
"$BS" plugins 2>/dev/null | grep -q "^  nifti-source " || fail "plugins lists nifti-source"
checks=$((checks + 1))
"$BS" plugin tsv | grep -q "^  path " || fail "plugin tsv shows its parameters"
expect 7 "unknown stage type 'tvs' (did you mean 'tsv'?)" "$BS" plugin tvs

# ---- a real run: nipy's functional.nii.gz, grid parcels, two sinks ----
cat >"$work/grid.pipeline" <<'PIPE'
stage bold nifti-source path=${bold} sidecar=none
stage ts   atlas-grid   input=bold size=${size:-12} mask=none min_coverage=0
sink  ts   tsv          path=${out}/{entities}_atlas-grid_stat-mean_timeseries.tsv
sink  ts   safetensors  path=${out}/{entities}_atlas-grid_timeseries.safetensors name=timeseries
PIPE
"$BS" --quiet check "$work/grid.pipeline" bold="$NIPY" out="$work/o" || fail "check grid.pipeline"
"$BS" --quiet --threads 2 run "$work/grid.pipeline" bold="$NIPY" out="$work/o" 2>"$work/err" ||
    fail "run grid.pipeline: $(cat "$work/err")"
ts="$work/o/functional_atlas-grid_stat-mean_timeseries.tsv"
checks=$((checks + 1))
[ -f "$ts" ] && [ -f "${ts%.tsv}.json" ] && [ -f "$work/o/functional_atlas-grid_timeseries.safetensors" ] ||
    fail "expected outputs missing: $(ls "$work/o" 2>&1)"
# nipy's functional.nii.gz has 20 volumes: header + 20 rows
checks=$((checks + 1))
[ "$(wc -l <"$ts")" -eq 21 ] || fail "timeseries rows: $(wc -l <"$ts")"
checks=$((checks + 1))
ls -A "$work/o" | grep -q '^\.tmp' && fail "temporary files left: $(ls -A "$work/o")"
rm -rf "$work/o"

# ---- bad inputs (issue: foundation) ----
head -c 20000 "$NIB/example4d.nii.gz" >"$work/truncated_bold.nii.gz"
expect 4 "truncated_bold.nii.gz" "$BS" run "$work/grid.pipeline" bold="$work/truncated_bold.nii.gz" out="$work/o"
expect_no_output
# wrong magic: overwrite bytes 344..347 of an uncompressed NIfTI-1 file
cp "$NIB/functional.nii" "$work/badmagic.nii"
printf 'XXXX' | dd of="$work/badmagic.nii" bs=1 seek=344 conv=notrunc 2>/dev/null
expect 4 "badmagic.nii" "$BS" run "$work/grid.pipeline" bold="$work/badmagic.nii" out="$work/o"
expect_no_output
# a 3D image where a 4D run is required
ATLAS3D=$(ls /usr/share/mricron/templates/ch2.nii.gz /usr/share/mricron/*/ch2*.nii* 2>/dev/null | head -n 1)
if [ -n "$ATLAS3D" ]; then
    expect 10 "expected a 4D BOLD series" "$BS" run "$work/grid.pipeline" bold="$ATLAS3D" out="$work/o"
    expect_no_output
fi
# an unsupported datatype (complex64), written with nibabel
if "${PYTHON:-python3}" - "$work/complex_bold.nii" <<'PY' 2>/dev/null
import sys, numpy as np, nibabel as nib
nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.complex64), np.eye(4)), sys.argv[1])
PY
then
    expect 5 "complex_bold.nii" "$BS" run "$work/grid.pipeline" bold="$work/complex_bold.nii" out="$work/o"
    expect_no_output
fi
expect 3 "$work/missing_bold.nii.gz" "$BS" run "$work/grid.pipeline" bold="$work/missing_bold.nii.gz" out="$work/o"
expect_no_output
expect 3 "cannot open pipeline file" "$BS" run "$work/nope.pipeline"
expect 6 "undefined variable \${bold}" "$BS" run "$work/grid.pipeline" out="$work/o"
expect 2 "argument 'junk' must be a variable assignment" "$BS" run "$work/grid.pipeline" junk
printf 'stage a test-scale input=c\nstage b test-scale input=a\nstage c test-scale input=b\n' >"$work/cycle.pipeline"
printf 'stage a nifti-source path=x.nii\nstage b atlas-grid input=bold\n' >"$work/dangling.pipeline"
printf 'stage a nifti-source path=x.nii\nstage b atlas-grid input=a sise=3\n' >"$work/typo.pipeline"
printf 'stage a nifti-source path=x.nii\nstage b fc input=a\n' >"$work/kinds.pipeline"
# the test plugin module lives next to the real ones in the build tree
expect 6 "cycle.pipeline:2:1: the pipeline has a cycle: b -> c -> a -> b" "$BS" check "$work/cycle.pipeline"
expect 6 "dangling.pipeline:2:26: input=bold refers to an undefined stage 'bold'" "$BS" check "$work/dangling.pipeline"
expect 2 "typo.pipeline:2:28: unknown parameter 'sise' for stage type atlas-grid (did you mean 'size'?)" \
    "$BS" check "$work/typo.pipeline"
expect 6 "expects timeseries, but stage 'a' (nifti-source) produces volume4d" "$BS" check "$work/kinds.pipeline"
# an unreadable plugin module on the search path: reported, not fatal
mkdir -p "$work/plugins"
echo "not a shared object" >"$work/plugins/broken.so"
checks=$((checks + 1))
BRAINSTAGE_PLUGIN_PATH="$work/plugins:$BRAINSTAGE_PLUGIN_PATH" "$BS" plugins >/dev/null 2>"$work/err" ||
    fail "plugins with a broken module should still succeed"
grep -q "broken.so: cannot load plugin module" "$work/err" || fail "broken module not reported: $(cat "$work/err")"
printf 'stage a broken-thing\n' >"$work/broken.pipeline"
BRAINSTAGE_PLUGIN_PATH="$work/plugins:$BRAINSTAGE_PLUGIN_PATH" \
    expect 6 "some plugin modules failed to load (run: brainstage plugins)" "$BS" check "$work/broken.pipeline"
# a failing stage after a sink: the sink's output must not appear
cat >"$work/late_fail.pipeline" <<'PIPE'
stage bold nifti-source path=${bold} sidecar=none
stage ts   atlas-grid   input=bold size=12 mask=none min_coverage=0
sink  ts   tsv          path=${out}/early.tsv
stage f    test-fail    input=ts message="planned failure"
PIPE
expect 10 "late_fail.pipeline:4:1: stage 'f' (test-fail): planned failure" \
    "$BS" run "$work/late_fail.pipeline" bold="$NIPY" out="$work/o"
checks=$((checks + 1))
[ ! -e "$work/o/early.tsv" ] || fail "early.tsv written although the run failed"
[ -z "$(ls -A "$work/o" 2>/dev/null)" ] || fail "leftovers after failed run: $(ls -A "$work/o")"

# OpenBLAS kernel choice: the user's OPENBLAS_CORETYPE wins; the automatic
# choice only ever raises a pre-AVX2 fallback (brainstage(1), ENVIRONMENT).
checks=$((checks + 1))
got=$(OPENBLAS_CORETYPE=Prescott "$BS" --print-blas-coretype)
[ "$got" = Prescott ] || fail "OPENBLAS_CORETYPE=Prescott not respected: '$got'"
checks=$((checks + 1))
own=$(env -u OPENBLAS_CORETYPE BRAINSTAGE_BLAS_AUTO=0 "$BS" --print-blas-coretype)
auto=$(env -u OPENBLAS_CORETYPE "$BS" --print-blas-coretype)
case "$auto" in "$own" | Haswell | SkylakeX) ;; *) fail "automatic BLAS choice '$auto' (OpenBLAS chose '$own')" ;; esac
checks=$((checks + 1))
"$BS" --version | grep -q "OpenBLAS kernels $auto," || fail "--version does not name the kernels: $("$BS" --version)"
# OpenMP threads wait passively unless the user chose otherwise
checks=$((checks + 1))
env -u OMP_WAIT_POLICY "$BS" --version | grep -q "OMP_WAIT_POLICY PASSIVE)" || fail "unset OMP_WAIT_POLICY not made PASSIVE"
checks=$((checks + 1))
OMP_WAIT_POLICY=active "$BS" --version | grep -q "OMP_WAIT_POLICY active)" || fail "OMP_WAIT_POLICY=active not respected"

echo "$checks checks, $fails failures"
[ "$fails" -eq 0 ]
