#!/bin/sh
# cohort_table.sh - the cohort table of issue 5: on a simulated cohort with a
# planted edge-level group difference, compare
#   FC upper triangle + logistic regression          (classical baseline)
#   BrainMass embedding + logistic regression         (linear probe)
#   BrainMAE embedding + logistic regression          (linear probe)
#   BrainMass fine-tuned (encoder + head, per split)  (--head finetune)
#   the same architecture fine-tuned from scratch     (control: no pretraining)
# at full data (stratified 5-fold CV) and at 10-shot (10 labelled subjects per
# class, repeated draws), mean ± sd over folds / draws.
#
#   sh scripts/cohort_table.sh [WORK_DIR]       (default ./brainstage-cohort)
#   make cohort-table                            (from a build tree)
#
# Pretraining sees no labels.  By default it also sees none of the evaluated
# subjects: BrainMass and BrainMAE are pretrained on a separate simulated
# cohort (COHORT_PRETRAIN subjects, same generative model, another seed).
# COHORT_PRETRAIN=0 pretrains on the evaluated cohort's own scans instead
# (transductive: every test subject's unlabeled scan is seen in pretraining).
#
# Environment (defaults): BRAINSTAGE (brainstage on PATH), COHORT_SUBJECTS
# (200), COHORT_PRETRAIN (100), COHORT_VOLUMES (150), COHORT_EFFECT (0.15),
# COHORT_GRID_MM (30: 58 ROIs), COHORT_THREADS (2), COHORT_SEED (11),
# COHORT_REPEATS (10), BM_STEPS (600), BM_BATCH (16), MAE_EPOCHS (40),
# FT_EPOCHS (30, k-fold) and FT_EPOCHS_FEW (60, 10-shot).  A finished
# simulation + participant level with the same settings is reused
# (COHORT_FRESH=1 redoes it); the simulated BOLD files are deleted after the
# participant level unless COHORT_KEEP_NIFTI=1.  See docs/group-level.md for
# the sizes and the time they take.
set -eu
BS=${BRAINSTAGE:-brainstage}
work=${1:-brainstage-cohort}
N=${COHORT_SUBJECTS:-200}
NPRE=${COHORT_PRETRAIN:-100}
T=${COHORT_VOLUMES:-150}
E=${COHORT_EFFECT:-0.15}
GRID=${COHORT_GRID_MM:-30}
J=${COHORT_THREADS:-2}
SEED=${COHORT_SEED:-11}
REPEATS=${COHORT_REPEATS:-10}
STEPS=${BM_STEPS:-600}
BATCH=${BM_BATCH:-16}
MAE_EPOCHS=${MAE_EPOCHS:-40}
FT_EPOCHS=${FT_EPOCHS:-30}
FT_EPOCHS_FEW=${FT_EPOCHS_FEW:-60}
# OpenMP threads that spin while waiting collapse under a loaded machine
# (measured: 10x slower BrainMass steps with 2 spinning threads at load 9).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start ))s, load $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo ?)] $*"; }
run() { $BS --quiet --threads "$J" --seed "$SEED" "$@"; }

# BIDS-App participant level; a run it refuses (e.g. too few low-motion
# volumes left after censoring) is reported and left out, not fatal.
participant() {
    run bids "$1" "$2" participant --pipeline timeseries ||
        echo "note: $(( $(ls -d "$1"/sub-* | wc -l) - $(find "$2" -name '*_stat-mean_timeseries.tsv' | wc -l) )) run(s) failed the participant level (above) and are left out"
    # the BOLD series (~46 MB a run) are not needed any more
    [ "${COHORT_KEEP_NIFTI:-0}" = 1 ] || find "$1" -name '*_desc-preproc_bold.nii.gz' -delete
}

mkdir -p "$work"
stamp="N=$N NPRE=$NPRE T=$T E=$E GRID=$GRID SEED=$SEED"
if [ "${COHORT_FRESH:-0}" = 1 ] || [ "$(cat "$work/.simulated" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$work/fmriprep" "$work/derivatives" "$work/pre-fmriprep" "$work/pre-derivatives" "$work/.simulated"
    step "simulate $N subjects, $T volumes, planted edge-level difference $E (control / patient alternate)"
    run simulate "$work/fmriprep" --subjects "$N" --volumes "$T" --grid-mm "$GRID" --effect "$E"
    step "participant level (atlas, 36P denoising, band-pass, censoring)"
    participant "$work/fmriprep" "$work/derivatives"
    if [ "$NPRE" -gt 0 ]; then
        step "simulate a separate unlabeled pretraining cohort of $NPRE subjects (seed $((SEED + 1000)))"
        $BS --quiet --threads "$J" --seed $((SEED + 1000)) simulate "$work/pre-fmriprep" --subjects "$NPRE" \
            --volumes "$T" --grid-mm "$GRID" --effect "$E"
        participant "$work/pre-fmriprep" "$work/pre-derivatives"
    fi
    echo "$stamp" > "$work/.simulated"
else
    step "reusing the simulated cohort in $work ($stamp)"
fi
deriv="$work/derivatives"
P="$work/fmriprep/participants.tsv"
if [ "$NPRE" -gt 0 ]; then pre="$work/pre-derivatives"; mode="held out ($NPRE other subjects)"
else pre="$deriv"; mode="transductive (the evaluated subjects' own scans, no labels)"; fi
g="$work/group"
mkdir -p "$g"

step "pretrain BrainMass on $mode: $STEPS steps of $BATCH pFC view pairs"
run pretrain brainmass --inputs "$pre" --out "$g/bm.safetensors" --steps "$STEPS" --batch "$BATCH" \
    --loss-log "$g/bm_loss.tsv"
step "pretrain BrainMAE on $mode: $MAE_EPOCHS epochs"
run pretrain brainmae --inputs "$pre" --out "$g/mae.safetensors" --epochs "$MAE_EPOCHS" --batch 8 \
    --loss-log "$g/mae_loss.tsv"
step "embed the $N evaluated subjects"
run embed brainmass --weights "$g/bm.safetensors" --inputs "$deriv" --out "$g/features-brainmass.tsv"
run embed brainmae --weights "$g/mae.safetensors" --inputs "$deriv" --out "$g/features-brainmae.tsv"

table="$g/table.txt"
: > "$table"
hdr=""
ev() { # name protocol-options... -- evaluate-options...
    name=$1
    shift
    # shellcheck disable=SC2086
    run evaluate --participants "$P" --label group --name "$name" $hdr "$@" > "$g/row.txt"
    cat "$g/row.txt"
    cat "$g/row.txt" >> "$table"
    hdr=--no-header
}
for proto in full few; do
    if [ $proto = full ]; then p="--folds 5"; fe=$FT_EPOCHS; sfx=kfold
    else p="--shots 10 --repeats $REPEATS"; fe=$FT_EPOCHS_FEW; sfx=shots10; fi
    step "evaluate: $p"
    # shellcheck disable=SC2086
    ev fc-logreg $p --fc-inputs "$deriv" --head logreg --out "$g/eval-fc_$sfx"
    # shellcheck disable=SC2086
    ev bm-probe $p --features "$g/features-brainmass.tsv" --head logreg --out "$g/eval-brainmass_$sfx"
    # shellcheck disable=SC2086
    ev mae-probe $p --features "$g/features-brainmae.tsv" --head logreg --out "$g/eval-brainmae_$sfx"
    # shellcheck disable=SC2086
    ev bm-finetune $p --fc-inputs "$deriv" --head finetune --model "$g/bm.safetensors" --epochs "$fe" \
        --out "$g/eval-brainmass-ft_$sfx"
    # shellcheck disable=SC2086
    ev bm-scratch-ft $p --fc-inputs "$deriv" --head finetune --model "$g/bm.safetensors" --from-scratch \
        --epochs "$fe" --out "$g/eval-scratch-ft_$sfx"
done
rm -f "$g/row.txt"

step "pretraining losses (first and last step; mean of the first and last 10% of steps)"
awk -F'\t' 'NR == 1 { for (c = 1; c <= NF; c++) k[$c] = c; next }
    { n++; for (c = 1; c <= NF; c++) v[n, c] = $c }
    END {
        m = int(n / 10); if (m < 1) m = 1
        split("total byol nce mse nce_acc", names, " ")
        printf "brainmass %-8s %10s %10s %12s %12s\n", "loss", "step 1", "step " n, "first 10%", "last 10%"
        for (i = 1; i <= 5; i++) {
            c = k[names[i]]; a = 0; b = 0
            for (s = 1; s <= m; s++) { a += v[s, c]; b += v[n - m + s, c] }
            label = names[i] == "byol" ? "byol(LRA)" : names[i] == "mse" ? "mse(MRM)" : names[i] == "nce" ? "nce(MRM)" : names[i]
            printf "brainmass %-10s %10.4f %10.4f %12.4f %12.4f\n", label, v[1, c], v[n, c], a / m, b / m
        }
    }' "$g/bm_loss.tsv" | tee "$g/pretrain_losses.txt"
awk -F'\t' 'NR > 1 { n++; l[n] = $2 } END { m = int(n / 10); if (m < 1) m = 1; a = 0; b = 0
    for (s = 1; s <= m; s++) { a += l[s]; b += l[n - m + s] }
    printf "brainmae  %-10s %10.4f %10.4f %12.4f %12.4f  (epochs)\n", "loss", l[1], l[n], a / m, b / m }' \
    "$g/mae_loss.tsv" | tee -a "$g/pretrain_losses.txt"

step "done in $(( $(date +%s) - start )) s"
echo
echo "cohort: $N subjects (balanced control/patient), $T volumes, planted effect $E, grid ${GRID} mm;"
echo "pretraining: $mode, no labels.  Chance: ACC 0.5, balanced ACC 0.5, AUC 0.5."
echo "5-fold = stratified 5-fold CV (sd over folds); 10-shot = 10 labelled subjects per class, $REPEATS draws,"
echo "tested on all other subjects (sd over draws).  Fine-tuning: $FT_EPOCHS epochs (5-fold), $FT_EPOCHS_FEW (10-shot)."
cat "$table"
cat "$g/pretrain_losses.txt"
