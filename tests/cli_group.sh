#!/bin/sh
# cli_group.sh - the group-level commands end to end on a tiny synthetic
# cohort of ROI time-series TSVs (no NIfTI needed): pretrain (BrainMass,
# BrainMAE, resume), embed, evaluate (FC, embeddings, few-shot, BrainMass
# fine-tuning), the BIDS-App
# participant level's handling of missing files, and bad input (missing
# label column, one class only) failing with one line and no outputs.
set -u
BS=${BRAINSTAGE:-./brainstage}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_group.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# ---- a cohort: 16 subjects, 12 ROIs in 3 networks, 100 volumes, TR 2 s;
# "patient" subjects share an extra signal between ROIs 0-3 (planted edges).
N=16 R=12 T=100
d="$tmp/deriv"
printf 'participant_id\tgroup\tage\n' > "$tmp/participants.tsv"
i=1
while [ $i -le $N ]; do
    sub=$(printf 'sub-%02d' $i)
    grp=control; [ $((i % 2)) -eq 0 ] && grp=patient
    printf '%s\t%s\t%d\n' "$sub" "$grp" $((20 + i)) >> "$tmp/participants.tsv"
    mkdir -p "$d/$sub/func"
    f="$d/$sub/func/${sub}_task-rest_atlas-Toy_stat-mean_timeseries"
    awk -v seed=$i -v R=$R -v T=$T -v patient=$([ $grp = patient ] && echo 1 || echo 0) 'BEGIN {
        srand(seed); pi = 3.14159265358979
        for (r = 0; r < R; r++) printf "%sroi%d", (r ? "\t" : ""), r; printf "\n"
        for (k = 0; k < 3; k++) z[k] = 0; w = 0
        for (t = 0; t < T; t++) {
            for (k = 0; k < 3; k++) z[k] = 0.5 * z[k] + g()
            w = 0.5 * w + g()
            for (r = 0; r < R; r++) {
                x = 0.6 * z[int(r / 4)] + g()
                if (patient && r < 4) x += 0.9 * w
                printf "%s%.5f", (r ? "\t" : ""), x
            }
            printf "\n"
        }
    }
    function g() { return sqrt(-2 * log(1 - rand())) * cos(2 * pi * rand()) }' > "$f.tsv"
    printf '{"RepetitionTime": 2.0}\n' > "$f.json"
    i=$((i + 1))
done
P="$tmp/participants.tsv"

# ---- pretrain + embed
g="$tmp/group"
$BS --quiet --threads 2 pretrain brainmass --inputs "$d" --out "$g/bm.safetensors" --steps 4 --batch 4 \
    --loss-log "$g/bm_loss.tsv" > "$tmp/log" 2>&1
check "pretrain brainmass writes a checkpoint" '[ -s "$g/bm.safetensors" ] && [ $(wc -l < "$g/bm_loss.tsv") -ge 5 ]'
$BS --quiet --threads 2 pretrain brainmass --inputs "$d" --out "$g/bm2.safetensors" --resume "$g/bm.safetensors" \
    --steps 8 --batch 4 >> "$tmp/log" 2>&1
check "pretrain brainmass --resume continues" '[ -s "$g/bm2.safetensors" ]'
$BS --quiet --threads 2 pretrain brainmae --inputs "$d"/sub-*/func/*_timeseries.tsv --out "$g/mae.safetensors" \
    --epochs 3 --batch 4 --window-s 8 --segments 4 --loss-log "$g/mae_loss.tsv" >> "$tmp/log" 2>&1
check "pretrain brainmae writes a checkpoint and 3 loss rows" '[ -s "$g/mae.safetensors" ] && [ $(wc -l < "$g/mae_loss.tsv") -eq 4 ]'
$BS --quiet --threads 2 pretrain brainmae --inputs "$d" --out "$g/mae.safetensors" --resume "$g/mae.safetensors" \
    --epochs 4 --batch 4 --loss-log "$g/mae_loss2.tsv" >> "$tmp/log" 2>&1
check "pretrain brainmae --resume runs only the missing epoch" '[ $(wc -l < "$g/mae_loss2.tsv") -eq 2 ]'
# --dropout reaches the model (and its checkpoint's config) for both models
$BS --quiet --threads 2 pretrain brainmae --inputs "$d" --out "$g/mae_d.safetensors" --epochs 1 --batch 4 \
    --window-s 8 --segments 4 --dropout 0.2 >> "$tmp/log" 2>&1
check "pretrain brainmae --dropout 0.2 is in the checkpoint's config" \
    'head -c 4096 "$g/mae_d.safetensors" | grep -a -q "dropout=0.200000003"'
$BS --quiet --threads 2 pretrain brainmass --inputs "$d" --out "$g/bm_d.safetensors" --steps 2 --batch 4 \
    --dropout 0 >> "$tmp/log" 2>&1
check "pretrain brainmass --dropout 0 is in the checkpoint's metadata" \
    'head -c 4096 "$g/bm_d.safetensors" | grep -a -q "\"dropout\":\"0\""'
$BS --quiet pretrain brainmae --inputs "$d" --out "$g/mae_bad.safetensors" --dropout 1.5 2> "$tmp/err"
rc=$?
check "pretrain --dropout 1.5: usage error (exit $rc), one line, nothing written ($(cat "$tmp/err"))" \
    '[ $rc -eq 2 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && [ ! -e "$g/mae_bad.safetensors" ]'
$BS --quiet --threads 2 embed brainmass --weights "$g/bm.safetensors" --inputs "$d" --out "$g/f_bm.tsv" >> "$tmp/log" 2>&1
check "embed brainmass: one row per subject, 8R features" \
    '[ $(wc -l < "$g/f_bm.tsv") -eq $((N + 1)) ] && [ $(head -1 "$g/f_bm.tsv" | awk -F"\t" "{print NF}") -eq $((8 * R + 1)) ]'
$BS --quiet --threads 2 embed brainmae --weights "$g/mae.safetensors" --inputs "$d" --out "$g/f_mae.tsv" >> "$tmp/log" 2>&1
check "embed brainmae: one row per subject, participant_id first" \
    '[ $(wc -l < "$g/f_mae.tsv") -eq $((N + 1)) ] && [ "$(cut -f1 "$g/f_mae.tsv" | sed -n 2p)" = sub-01 ]'

# ---- evaluate
$BS --quiet evaluate --fc-inputs "$d" --participants "$P" --label group --head logreg --folds 4 --out "$g/ev_fc" \
    > "$tmp/table" 2>> "$tmp/log"
check "evaluate FC: metrics TSV (4 folds + mean + sd) and JSON" \
    '[ $(wc -l < "$g/ev_fc_metrics.tsv") -eq 7 ] && grep -q "\"auc\"" "$g/ev_fc_metrics.json" && [ -s "$g/ev_fc_predictions.tsv" ]'
acc=$(awk -F'\t' 'NR == 1 { for (c = 1; c <= NF; c++) if ($c == "balanced_acc") k = c } $1 == "mean" { print $k }' "$g/ev_fc_metrics.tsv")
check "evaluate FC finds the planted difference (balanced acc $acc > 0.7)" 'awk -v a="$acc" "BEGIN { exit !(a > 0.7) }"'
check "evaluate prints a table row with mean ± sd" 'grep -q "^fc .*logreg.*4-fold.*±" "$tmp/table"'
$BS --quiet evaluate --features "$g/f_bm.tsv" --participants "$P" --head centroid --shots 3 --repeats 4 \
    --out "$g/ev_bm" >> "$tmp/table" 2>> "$tmp/log"
check "evaluate few-shot on embeddings" '[ $(wc -l < "$g/ev_bm_metrics.tsv") -eq 7 ] && [ ! -e "$g/ev_bm_predictions.tsv" ]'
$BS --quiet evaluate --features "$g/f_mae.tsv" --participants "$P" --label age --head ridge --folds 4 \
    --out "$g/ev_age" >> "$tmp/table" 2>> "$tmp/log"
check "evaluate regression (ridge on age)" 'grep -q pearson_r "$g/ev_age_metrics.tsv"'

# ---- fine-tuning the pretrained BrainMass per fold (pFC views as augmentation)
$BS --quiet --threads 1 evaluate --fc-inputs "$d" --participants "$P" --head finetune --model "$g/bm.safetensors" \
    --folds 4 --epochs 4 --batch 4 --save-model "$g/ft.safetensors" --name bm-ft --out "$g/ev_ft" \
    >> "$tmp/table" 2>> "$tmp/log"
check "evaluate --head finetune: 4-fold metrics, predictions and the model fine-tuned on everyone" \
    '[ $(wc -l < "$g/ev_ft_metrics.tsv") -eq 7 ] && grep -q "\"head\": \"finetune\"" "$g/ev_ft_metrics.json" && [ -s "$g/ev_ft_predictions.tsv" ] && [ -s "$g/ft.safetensors" ]'
$BS --quiet --threads 1 evaluate --fc-inputs "$d" --participants "$P" --head finetune --model "$g/bm.safetensors" \
    --shots 3 --repeats 2 --epochs 3 --batch 4 --freeze --augment none --name bm-ft-frozen --out "$g/ev_ft3" \
    >> "$tmp/table" 2>> "$tmp/log"
check "evaluate --head finetune --shots 3 --freeze --augment none" \
    '[ $(wc -l < "$g/ev_ft3_metrics.tsv") -eq 5 ] && grep -q "\"freeze_encoder\": true" "$g/ev_ft3_metrics.json"'
$BS --quiet embed brainmass --weights "$g/ft.safetensors" --inputs "$d" --out "$g/f_ft.tsv" >> "$tmp/log" 2>&1
check "the fine-tuned model's encoder embeds like a BrainMass checkpoint" '[ $(wc -l < "$g/f_ft.tsv") -eq $((N + 1)) ]'
mkdir -p "$tmp/r10/sub-01/func" "$tmp/r10/sub-02/func"
for s2 in sub-01 sub-02 sub-03 sub-04; do
    mkdir -p "$tmp/r10/$s2/func"
    cut -f1-10 "$d/$s2/func/${s2}_task-rest_atlas-Toy_stat-mean_timeseries.tsv" \
        > "$tmp/r10/$s2/func/${s2}_task-rest_atlas-Toy_stat-mean_timeseries.tsv"
done
$BS --quiet evaluate --fc-inputs "$tmp/r10" --participants "$P" --head finetune --model "$g/bm.safetensors" \
    --folds 2 --out "$tmp/x5" --save-model "$tmp/x5.safetensors" 2> "$tmp/err"
rc=$?
check "finetune: checkpoint ROI count != data ROI count: exit $rc, one line, nothing written ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q "12 ROIs, the inputs have 10" "$tmp/err" && ! ls "$tmp"/x5* > /dev/null 2>&1'
$BS --quiet evaluate --fc-inputs "$d" --participants "$P" --head finetune --out "$tmp/x6" 2> "$tmp/err"
rc=$?
check "finetune without --model: usage error ($(head -1 "$tmp/err"))" '[ $rc -ne 0 ] && grep -q "needs --model" "$tmp/err" && ! ls "$tmp"/x6* > /dev/null 2>&1'
awk -F'\t' 'BEGIN { OFS = "\t" } NR > 1 && NR <= 5 { $2 = "patient" } { print }' "$P" > "$tmp/fold1class.tsv"
$BS --quiet evaluate --fc-inputs "$d" --participants "$tmp/fold1class.tsv" --head finetune --model "$g/bm.safetensors" \
    --shots 7 --out "$tmp/x7" 2> "$tmp/err"
rc=$?
check "finetune: a class too small for the protocol: exit $rc, one line, nothing written ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q "class .control. has 6 subjects" "$tmp/err" && ! ls "$tmp"/x7* > /dev/null 2>&1'

# ---- bad input: one line on stderr, non-zero exit, nothing written
cut -f1,3 "$P" > "$tmp/nolabel.tsv"
$BS --quiet evaluate --features "$g/f_bm.tsv" --participants "$tmp/nolabel.tsv" --label group --out "$tmp/x1" 2> "$tmp/err"
rc=$?
check "missing label column: exit $rc, one line ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q group "$tmp/err" && ! ls "$tmp"/x1* > /dev/null 2>&1'
awk -F'\t' 'BEGIN { OFS = "\t" } NR > 1 { $2 = "control" } { print }' "$P" > "$tmp/oneclass.tsv"
$BS --quiet evaluate --features "$g/f_bm.tsv" --participants "$tmp/oneclass.tsv" --out "$tmp/x2" 2> "$tmp/err"
rc=$?
check "one class only: exit $rc, one line ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && ! ls "$tmp"/x2* > /dev/null 2>&1'
$BS --quiet pretrain brainmae --inputs "$d" --out "$tmp/x3.safetensors" --epochs 1 --window-s 8 --segments 40 2> "$tmp/err"
rc=$?
check "runs too short for BrainMAE: exit $rc, one line, no checkpoint ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && [ ! -e "$tmp/x3.safetensors" ]'

mkdir -p "$tmp/trmix"
cp "$d"/sub-0[12]/func/* "$tmp/trmix/"
printf '{"RepetitionTime": 1.0}\n' > "$tmp/trmix/sub-02_task-rest_atlas-Toy_stat-mean_timeseries.json"
$BS --quiet pretrain brainmae --inputs "$tmp/trmix" --out "$tmp/x4.safetensors" --epochs 1 --window-s 8 2> "$tmp/err"
rc=$?
check "mismatched TR between runs: exit $rc, one line, no checkpoint ($(cat "$tmp/err"))" \
    '[ $rc -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q sub-02 "$tmp/err" && [ ! -e "$tmp/x4.safetensors" ]'

# same ROI count, other ROI names (another atlas, or a reordered table)
mkdir -p "$tmp/roimix"
cp "$d"/sub-0[12]/func/*_timeseries.tsv "$tmp/roimix/"
f2="$tmp/roimix/sub-02_task-rest_atlas-Toy_stat-mean_timeseries.tsv"
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { t = $1; $1 = $2; $2 = t } { print }' "$f2" > "$f2.tmp" && mv "$f2.tmp" "$f2"
$BS --quiet pretrain brainmass --inputs "$tmp/roimix" --out "$tmp/x5.safetensors" --steps 2 --tr 2 2> "$tmp/err"
rc=$?
check "ROI columns in another order: exit $rc (10), one line naming the column, no checkpoint ($(cat "$tmp/err"))" \
    '[ $rc -eq 10 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q "sub-02.*ROI column 1" "$tmp/err" && [ ! -e "$tmp/x5.safetensors" ]'

# ---- BIDS-App participant level: a run without its confounds is skipped
f="$tmp/fmriprep/sub-01/func"
mkdir -p "$f"
b="$f/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold"
: > "$b.nii.gz"
printf '{"RepetitionTime": 2.0}\n' > "$b.json"
: > "$f/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz"
printf 'stage bold nifti-source path=${bold}\nsink bold tsv path=${out}/x.tsv\n' > "$tmp/p.pipeline"
$BS --quiet bids "$tmp/fmriprep" "$tmp/out" participant --pipeline "$tmp/p.pipeline" --participant-label 01 2> "$tmp/err"
rc=$?
check "bids: missing confounds: exit 1, message names the file ($(cat "$tmp/err"))" \
    '[ $rc -eq 1 ] && grep -q "sub-01_task-rest_desc-confounds_timeseries.tsv" "$tmp/err" && [ ! -e "$tmp/out/dataset_description.json" ]'
$BS --quiet bids "$tmp/fmriprep" "$tmp/out" participant --pipeline "$tmp/p.pipeline" --participant-label 02 2> "$tmp/err"
check "bids: unknown participant label: exit 1" '[ $? -eq 1 ] && grep -q "sub-02" "$tmp/err"'
$BS --quiet bids "$tmp/fmriprep" "$tmp/out" sideways 2> "$tmp/err"
check "bids: bad analysis level: exit 1" '[ $? -eq 1 ]'

# ---- BIDS-App participant level on a tiny NIfTI dataset (nibabel writes it):
# two sessions of one subject plus a subject without confounds.
PY=${PYTHON:-/usr/bin/python3}
if "$PY" -c "import nibabel, numpy" 2> /dev/null; then
    "$PY" - "$tmp/fp2" <<'PYEOF'
import json, os, sys
import nibabel as nib, numpy as np
root = sys.argv[1]
rng = np.random.default_rng(3)
aff = np.diag([4.0, 4.0, 4.0, 1.0])
lab = np.zeros((6, 6, 6), np.int16)
lab[:3, :3], lab[3:, :3], lab[:3, 3:], lab[3:, 3:] = 1, 2, 3, 4
os.makedirs(f"{root}/atlas")
nib.save(nib.Nifti1Image(lab, aff), f"{root}/atlas/atlas-Four_space-MNI152NLin2009cAsym_dseg.nii.gz")
for sub, ses in (("01", "1"), ("01", "2"), ("02", None)):
    d = f"{root}/sub-{sub}" + (f"/ses-{ses}" if ses else "") + "/func"
    os.makedirs(d)
    ent = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_task-rest"
    bold = rng.standard_normal((6, 6, 6, 40)).astype(np.float32) + 100
    img = nib.Nifti1Image(bold, aff)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    nib.save(img, f"{d}/{ent}_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((6, 6, 6), np.uint8), aff), f"{d}/{ent}_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz")
    json.dump({"RepetitionTime": 2.0}, open(f"{d}/{ent}_space-MNI152NLin2009cAsym_desc-preproc_bold.json", "w"))
    if sub == "01":
        with open(f"{d}/{ent}_desc-confounds_timeseries.tsv", "w") as f:
            f.write("global_signal\tframewise_displacement\n")
            for t in range(40):
                f.write(f"{rng.standard_normal():.4f}\t{'n/a' if t == 0 else '0.1'}\n")
PYEOF
    cat > "$tmp/ts.pipeline" <<'PEOF'
stage bold  nifti-source path=${bold}
stage ts    atlas-label  input=bold atlas=${atlas} mask=${mask}
stage clean clean        input=ts confounds=${confounds} strategy=custom columns=global_signal band=0,0 fd_max=0
sink  clean tsv          path=${out}/${entities}_atlas-${atlas_name}_stat-mean_timeseries.tsv
PEOF
    $BS --quiet bids "$tmp/fp2" "$tmp/out2" participant --pipeline "$tmp/ts.pipeline" --nthreads 1 \
        > "$tmp/log2" 2> "$tmp/err"
    rc=$?
    o1="$tmp/out2/sub-01/ses-1/func/sub-01_ses-1_task-rest_space-MNI152NLin2009cAsym_atlas-Four_stat-mean_timeseries"
    o2="$tmp/out2/sub-01/ses-2/func/sub-01_ses-2_task-rest_space-MNI152NLin2009cAsym_atlas-Four_stat-mean_timeseries"
    check "bids participant: sessions processed, sub-02 skipped, exit 1 ($(cat "$tmp/err"))" \
        '[ $rc -eq 1 ] && [ -s "$o1.tsv" ] && [ -s "$o2.tsv" ] && grep -q "sub-02.*confounds" "$tmp/err" && [ ! -e "$tmp/out2/sub-02" ]'
    check "bids participant: 40 volumes x 4 ROIs, TR sidecar" \
        '[ $(wc -l < "$o1.tsv") -eq 41 ] && [ $(head -1 "$o1.tsv" | awk -F"\t" "{print NF}") -eq 4 ] && grep -q "\"RepetitionTime\": 2" "$o1.json"'
    check "bids participant: derivative dataset_description.json" \
        'grep -q "\"DatasetType\": \"derivative\"" "$tmp/out2/dataset_description.json" && grep -q GeneratedBy "$tmp/out2/dataset_description.json"'
    $BS --quiet bids "$tmp/fp2" "$tmp/out3" participant --pipeline "$tmp/ts.pipeline" --participant-label sub-01 \
        --session-id 2 > /dev/null 2> "$tmp/err"
    check "bids participant: --participant-label sub-01 --session-id 2 selects one run, exit 0" \
        '[ $? -eq 0 ] && [ ! -e "$tmp/out3/sub-01/ses-1" ] && [ -d "$tmp/out3/sub-01/ses-2/func" ]'
elif [ "${BRAINSTAGE_REQUIRE_PYTHON:-0}" = 1 ]; then
    bad "nibabel/numpy not importable by $PY (BRAINSTAGE_REQUIRE_PYTHON=1)"
else
    echo "skip: participant level on NIfTI (no nibabel for $PY)"
fi

# ---- BIDS-App group level over a derivatives folder
$BS --quiet --threads 2 bids "$tmp/fmriprep" "$d" group --participants "$P" --folds 4 --steps 4 --epochs 2 --batch 4 \
    > "$tmp/table2" 2>> "$tmp/log"
rc=$?
check "bids group: exit 0, three table rows" '[ $rc -eq 0 ] && [ $(grep -c "4-fold" "$tmp/table2") -eq 3 ]'
$BS --quiet --threads 1 bids "$tmp/fmriprep" "$d" group --participants "$P" --folds 4 --steps 4 --batch 4 \
    --models brainmass --finetune --finetune-epochs 2 > "$tmp/table3" 2>> "$tmp/log"
rc=$?
check "bids group --finetune: exit 0, a fine-tuned row and model" \
    '[ $rc -eq 0 ] && grep -q "^brainmass-ft .*finetune" "$tmp/table3" && [ -s "$d/group/model-brainmass_desc-finetuned.safetensors" ]'
cat "$tmp/table3" >> "$tmp/table2"
cat "$tmp/table" "$tmp/table2"
if [ $fails -ne 0 ]; then
    echo "--- log"; cat "$tmp/log"
    exit 1
fi
exit 0
