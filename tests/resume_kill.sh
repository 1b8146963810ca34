#!/bin/sh
# resume_kill.sh - crash-safe training: `brainstage pretrain` (BrainMass and
# BrainMAE) is killed with SIGKILL mid-run once a periodic checkpoint
# exists, resumed with --resume into the same checkpoint and loss log, and
# must end with exactly the losses (every logged value, compared as text)
# and the checkpoint bytes of an uninterrupted run with the same seed and
# thread count.  The kill must really interrupt: the log left by the killed
# run has to be shorter than the full one, else the case fails.
set -u
BS=${BRAINSTAGE:?run through make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/resume_kill.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

# a toy cohort: 12 runs of 12 ROIs x 120 volumes, TR 2 s
d="$tmp/deriv"
mkdir -p "$d"
i=1
while [ $i -le 12 ]; do
    f="$d/$(printf 'sub-%02d' $i)_task-rest_atlas-Toy_stat-mean_timeseries"
    awk -v seed=$i 'BEGIN { srand(seed)
        for (r = 0; r < 12; r++) printf "%sroi%d", (r ? "\t" : ""), r; printf "\n"
        for (t = 0; t < 120; t++) { z = rand(); for (r = 0; r < 12; r++) printf "%s%.5f", (r ? "\t" : ""), 0.5 * z + rand(); printf "\n" }
    }' >"$f.tsv"
    printf '{"RepetitionTime": 2.0}\n' >"$f.json"
    i=$((i + 1))
done

# run_case NAME STEPS_TOTAL COLUMNS ARGS... : reference run, killed run, resume, compare.
# COLUMNS: the loss-log columns that must match (BrainMass logs wall time last).
run_case() {
    name=$1 total=$2 cols=$3
    shift 3
    ref="$tmp/$name-ref" run="$tmp/$name-run"
    mkdir -p "$ref" "$run"
    if ! $BS --quiet --threads 2 --seed 7 pretrain "$@" --out "$ref/ckpt.safetensors" \
            --loss-log "$ref/loss.tsv" >"$tmp/$name.log" 2>&1; then
        bad "$name: uninterrupted run failed: $(tail -n 3 "$tmp/$name.log")"
        return
    fi
    $BS --quiet --threads 2 --seed 7 pretrain "$@" --out "$run/ckpt.safetensors" \
        --loss-log "$run/loss.tsv" >>"$tmp/$name.log" 2>&1 &
    pid=$!
    # SIGKILL as soon as the first periodic checkpoint is in place: the run is
    # then inside the next step / epoch (or writing the next checkpoint)
    waited=0
    while [ ! -e "$run/ckpt.safetensors" ] && kill -0 "$pid" 2>/dev/null && [ $waited -lt 6000 ]; do
        sleep 0.01
        waited=$((waited + 1))
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    status=$?
    pid=""
    rows=$(($(wc -l <"$run/loss.tsv") - 1))
    if [ "$status" -ne 137 ] || [ "$rows" -ge "$total" ]; then
        bad "$name: the run was not interrupted (status $status, $rows of $total rows logged)"
        return
    fi
    ok "$name: killed with SIGKILL after $rows of $total logged rows"
    leftovers=$(ls -A "$run" | grep -v -e '^ckpt.safetensors$' -e '^loss.tsv$' -e '^\.tmp\.')
    [ -z "$leftovers" ] || bad "$name: unexpected files after the kill: $leftovers"
    if ! $BS --quiet --threads 2 --seed 7 pretrain "$@" --resume "$run/ckpt.safetensors" \
            --out "$run/ckpt.safetensors" --loss-log "$run/loss.tsv" >>"$tmp/$name.log" 2>&1; then
        bad "$name: resume failed: $(tail -n 3 "$tmp/$name.log")"
        return
    fi
    if [ "$(cut -f "$cols" "$ref/loss.tsv")" = "$(cut -f "$cols" "$run/loss.tsv")" ]; then
        ok "$name: resumed losses identical to the uninterrupted run ($total rows)"
    else
        bad "$name: losses differ after resume:"
        diff "$ref/loss.tsv" "$run/loss.tsv" | head -n 10
    fi
    [ "$(wc -l <"$run/loss.tsv")" -eq $((total + 1)) ] || bad "$name: resumed log has $(wc -l <"$run/loss.tsv") lines"
    if cmp -s "$ref/ckpt.safetensors" "$run/ckpt.safetensors"; then
        ok "$name: final checkpoint byte-identical"
    else
        bad "$name: final checkpoints differ"
    fi
}

run_case brainmass 12 1-7 brainmass --inputs "$d" --steps 12 --batch 4 --depth 1 --ffn 32 --feat 16 \
    --checkpoint-every 3
run_case brainmae 10 1-2 brainmae --inputs "$d" --epochs 10 --batch 4 --depth 1 --feat 16 --ffn 32 --heads 2 \
    --window-s 8 --segments 4 --checkpoint-every 1

[ "$fails" -eq 0 ] && echo "all resume checks passed"
[ "$fails" -eq 0 ]
