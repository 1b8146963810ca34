#!/bin/sh
# valgrind.sh - a representative subset of brainstage under valgrind memcheck
# (`make valgrind`; CI runs it).  Zero errors: any invalid read/write, use of
# uninitialised memory in a branch, and any definitely or indirectly lost
# block fails the command (--error-exitcode).  The subset covers every
# reader and writer once on good input (participant level: NIfTI streaming
# with the prefetch thread, atlas resampling, confounds, clean, FC, TSV and
# JSON sinks; BrainMass/BrainMAE pretraining, resume, checkpoints, embed;
# evaluate) and the error paths of each format on bad input.
set -u
BS=${BRAINSTAGE:?run through make valgrind}
LIBTOOL=${LIBTOOL:-${top_builddir:?}/libtool}
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bs-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0 runs=0
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30"

# vg WANT_EXIT LABEL ARGS...: brainstage ARGS under memcheck, expecting WANT_EXIT
vg() {
    want=$1 label=$2
    shift 2
    runs=$((runs + 1))
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$LIBTOOL" --mode=execute $VG "$BS" --quiet --threads 2 "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    secs=$(($(date +%s) - start))
    if [ "$got" -eq 99 ] || grep -q '^==[0-9]*==' "$tmp/err"; then
        echo "FAIL: $label: memcheck errors (exit $got, ${secs}s):"
        grep '^==' "$tmp/err" | head -n 40
        fails=$((fails + 1))
    elif [ "$got" -ne "$want" ]; then
        echo "FAIL: $label: exit $got, want $want: $(tail -n 2 "$tmp/err")"
        fails=$((fails + 1))
    else
        echo "ok: $label (exit $got, ${secs}s)"
    fi
}

# a 2-subject fMRIPrep-shaped dataset from the soak test's generator
. "${top_srcdir:?}/tests/require_numpy.sh"
"$PY" -c "exec(open('${top_srcdir:?}/tests/soak.py').read().split('def status_kib')[0]); N = 2; make_dataset('$tmp/fmriprep')" ||
    { echo "FAIL: dataset"; exit 1; }

vg 0 "bids participant (fc, aal)" bids "$tmp/fmriprep" "$tmp/deriv" participant --pipeline fc --atlas aal
# group level on a toy cohort (4 runs of 8 ROIs: AAL's 116 make memcheck slow)
ts="$tmp/series"
mkdir -p "$ts"
for i in 1 2 3 4; do
    f="$ts/sub-0${i}_task-rest_atlas-Toy_stat-mean_timeseries"
    awk -v seed=$i 'BEGIN { srand(seed)
        for (r = 0; r < 8; r++) printf "%sroi%d", (r ? "\t" : ""), r; printf "\n"
        for (t = 0; t < 60; t++) { z = rand(); for (r = 0; r < 8; r++) printf "%s%.4f", (r ? "\t" : ""), z + rand(); printf "\n" }
    }' >"$f.tsv"
    printf '{"RepetitionTime": 2.0}\n' >"$f.json"
done
vg 0 "pretrain brainmass" pretrain brainmass --inputs "$ts" --out "$tmp/bm.safetensors" --steps 2 --batch 2 \
    --depth 1 --ffn 16 --feat 8 --checkpoint-every 1 --loss-log "$tmp/bm.tsv"
vg 0 "pretrain brainmass --resume" pretrain brainmass --inputs "$ts" --out "$tmp/bm.safetensors" \
    --resume "$tmp/bm.safetensors" --steps 3 --batch 2 --depth 1 --ffn 16 --feat 8 --loss-log "$tmp/bm.tsv"
vg 0 "pretrain brainmae" pretrain brainmae --inputs "$ts" --out "$tmp/mae.safetensors" --epochs 2 --batch 2 \
    --depth 1 --heads 2 --ffn 16 --feat 16 --segments 2 --window-s 8 --loss-log "$tmp/mae.tsv"
vg 0 "embed brainmass" embed brainmass --weights "$tmp/bm.safetensors" --inputs "$ts" --out "$tmp/f_bm.tsv"
vg 0 "embed brainmae" embed brainmae --weights "$tmp/mae.safetensors" --inputs "$ts" --out "$tmp/f_mae.tsv"
printf 'participant_id\tgroup\nsub-01\ta\nsub-02\tb\nsub-03\ta\nsub-04\tb\n' >"$tmp/participants.tsv"
vg 0 "evaluate (centroid, few-shot)" evaluate --features "$tmp/f_bm.tsv" --participants "$tmp/participants.tsv" \
    --label group --head centroid --shots 1 --repeats 2 --out "$tmp/ev"

# error paths: each reader on bad input must free what it allocated
bold=$(ls "$tmp"/fmriprep/sub-001/func/*_desc-preproc_bold.nii.gz)
head -c 30000 "$bold" >"$tmp/cut_bold.nii.gz"
conf=$(ls "$tmp"/fmriprep/sub-001/func/*_desc-confounds_timeseries.tsv)
vg 4 "truncated NIfTI (run fc)" run fc bold="$tmp/cut_bold.nii.gz" atlas=aal confounds="$conf" out="$tmp/o1"
printf '\377\377\377\377\377\377\377\177{}' >"$tmp/huge.safetensors"
vg 4 "safetensors header length overflow (embed)" embed brainmass --weights "$tmp/huge.safetensors" \
    --inputs "$ts" --out "$tmp/o2.tsv"
printf 'stage a clean input=c\nstage b clean input=a\nstage c clean input=b\n' >"$tmp/cycle.pipeline"
vg 6 "pipeline cycle (check)" check "$tmp/cycle.pipeline"
mkdir -p "$tmp/ragged"
printf 'a\tb\n1\t2\n3\n4\t5\n' >"$tmp/ragged/sub-01_task-rest_stat-mean_timeseries.tsv"
vg 4 "ragged TSV (pretrain)" pretrain brainmass --inputs "$tmp/ragged" --out "$tmp/o3.safetensors"
head -n 20 "$conf" >"$tmp/short_confounds.tsv"
vg 10 "confounds with too few rows (run fc)" run fc bold="$bold" atlas=aal confounds="$tmp/short_confounds.tsv" \
    out="$tmp/o4"

echo "$runs commands under memcheck, $fails failed"
[ "$fails" -eq 0 ]
