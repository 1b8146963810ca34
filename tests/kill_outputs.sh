#!/bin/sh
# kill_outputs.sh - a killed run never leaves a truncated file under its
# final name.  Three writers (the simulator: NIfTI + TSV + JSON; a pipeline
# streaming a large pFC batch into safetensors; BrainMass pretraining with a
# checkpoint and loss log every step) are started, SIGKILLed while a
# temporary output is being written (polled: a hidden .tmp.* file exists),
# and again after fixed delays; then check_outputs.py reads every
# final-named file completely.  Each writer must have been caught mid-write
# at least once, else the test proves nothing and fails.
set -u
BS="${BRAINSTAGE:?run through make check} --quiet --threads 2"
. "${top_srcdir:?}/tests/require_numpy.sh"
CHECK="$PY ${top_srcdir:?}/tests/check_outputs.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kill_outputs.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0

# inputs: a small simulated cohort for the pipeline and the pretraining
$BS simulate "$tmp/cohort" --subjects 2 --volumes 40 >/dev/null 2>&1 || { echo "FAIL: simulate"; exit 1; }
bold=$(ls "$tmp"/cohort/sub-01/func/*_desc-preproc_bold.nii.gz)
cat >"$tmp/pfc.pipeline" <<'EOF'
stage bold nifti-source path=${bold}
stage ts   atlas-grid   input=bold size=50 mask=none min_coverage=0
stage p    pfc          input=ts n=1500 out=${out}/pfc.safetensors chunk=50 constant=zero
sink  ts   tsv          path=${out}/{entities}_stat-mean_timeseries.tsv
EOF
mkdir -p "$tmp/series"
$BS run "$tmp/pfc.pipeline" bold="$bold" out="$tmp/series" >/dev/null 2>&1 || { echo "FAIL: pipeline"; exit 1; }
cp "$tmp/series"/*_timeseries.tsv "$tmp/series/sub-02_task-rest_stat-mean_timeseries.tsv"
rm -f "$tmp/series/pfc.safetensors"

# writer NAME OUT: the command line of each writer, output folder OUT
writer() {
    case $1 in
    simulate) echo "$BS simulate $2/ds --subjects 3 --volumes 40" ;;
    pfc) echo "$BS run $tmp/pfc.pipeline bold=$bold out=$2" ;;
    pretrain) echo "$BS pretrain brainmass --inputs $tmp/series --out $2/ckpt.safetensors --steps 200 --batch 2 \
                     --depth 1 --ffn 16 --feat 8 --checkpoint-every 1 --loss-log $2/loss.tsv" ;;
    esac
}

# one_kill NAME MODE: MODE "write" = kill once a temporary exists, else a delay in seconds
one_kill() {
    out="$tmp/out-$1-$2"
    rm -rf "$out" && mkdir -p "$out"
    $(writer "$1" "$out") >/dev/null 2>&1 &
    pid=$!
    if [ "$2" = write ] || [ "$2" = final ]; then
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 20000 ]; do
            n=$((n + 1))
            [ -n "$(find "$out" -name '.*' -type f 2>/dev/null | head -n 1)" ] || continue
            [ "$2" = write ] && break
            [ -n "$(find "$out" -type f ! -name '.*' 2>/dev/null | head -n 1)" ] && break
        done
    else
        sleep "$2"
    fi
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    status=$?
    pid=""
    temps=$(find "$out" -name '.*' -type f | wc -l)
    report=$($CHECK "$out")
    if [ $? -ne 0 ]; then
        echo "FAIL: $1 killed ($2): $report"
        fails=$((fails + 1))
    else
        echo "ok: $1 killed ($2, exit $status, $temps temporaries left): $report"
    fi
    if [ "$status" -eq 137 ] && [ "$temps" -gt 0 ]; then
        caught=$((caught + 1))
        finals=$(find "$out" -type f ! -name '.*' | wc -l)
        [ "$finals" -gt 0 ] && caught_with_finals=$((caught_with_finals + 1))
    fi
}

# "write": kill as soon as a temporary exists; "final": once a final-named
# file and a temporary both exist (finished outputs next to one in
# progress); a number: after that many seconds.  The pfc pipeline moves its
# outputs into place only at the very end, so it is not held to "final".
for w in simulate pfc pretrain; do
    caught=0 caught_with_finals=0
    for mode in write write final final 1.5; do
        one_kill $w $mode
    done
    if [ $caught -eq 0 ]; then
        echo "FAIL: $w was never killed while writing a temporary"
        fails=$((fails + 1))
    fi
    if [ $w != pfc ] && [ $caught_with_finals -eq 0 ]; then
        echo "FAIL: $w was never killed with finished outputs next to one in progress"
        fails=$((fails + 1))
    fi
done
[ "$fails" -eq 0 ]
