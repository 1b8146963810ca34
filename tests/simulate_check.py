#!/usr/bin/env python3
"""simulate_check.py - the simulated fMRIPrep derivatives are well formed,
carry the planted network, and are deterministic.

Checks (docs/simulate.md):
  * names: BIDS/fMRIPrep file names for every subject, dataset_description.json
    (DatasetType derivative), participants.tsv with alternating groups,
    atlas dseg image + table;
  * NIfTI: 91x109x91xT, 2 mm RAS affine, TR in pixdim[4], int16 BOLD,
    {0,1} brain mask; JSON RepetitionTime;
  * confounds: fMRIPrep columns, n/a exactly in the first row of derivative,
    FD and DVARS columns, FD recomputed from the motion columns;
  * recovery: parcellating the written BOLD with the written atlas (inside the
    brain mask) and regressing WM, CSF and a linear trend, the FC's upper
    triangle correlates with the FC of the ground-truth ROI series at r > 0.8
    (measured ~0.96) and with the true coupling matrix at r > 0.5 (measured
    0.6-0.7: at T = 100 the sampling error of r limits this, and the
    ground-truth series themselves reach about the same); each ROI's
    recovered series correlates with its ground truth at a median r > 0.6
    (measured ~0.92); the true coupling has exactly effect_size on planted
    cross-network edges in the patient and 0 in the control, and the
    recovered patient-control difference on those edges is > half the
    ground-truth series' difference;
  * determinism: the same seed with 1 and 2 threads gives byte-identical files;
  * AAL (when mricron-data is installed): 116 ROIs named from aal.nii.txt.
Exit 77 (skip) without numpy/nibabel unless BRAINSTAGE_REQUIRE_PYTHON=1.
"""
import filecmp
import json
import os
import subprocess
import sys
import tempfile

try:
    import nibabel as nib
    import numpy as np
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_simulate_tool")
AAL = "/usr/share/mricron/templates/aal.nii.gz"
FC_VS_SAMPLE_MIN_R = 0.8
FC_VS_TRUTH_MIN_R = 0.5
ROI_MIN_R = 0.6
SPACE = "space-MNI152NLin2009cAsym_res-2"
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return header, rows


def numeric(rows, start=0):
    return np.array([[np.nan if c == "n/a" else float(c) for c in r[start:]] for r in rows])


def run(out, *args):
    proc = subprocess.run([TOOL, out] + list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr)
    return proc.returncode


def parcellate(bold, mask, atlas, n_rois):
    """Mean of the in-mask voxels of each label (nilearn-style label masker)."""
    T = bold.shape[3]
    lab = (np.asanyarray(atlas.dataobj).astype(int) * (np.asanyarray(mask.dataobj) > 0)).reshape(-1, order="F")
    idx = np.flatnonzero(lab)
    vox = np.asanyarray(bold.dataobj).reshape(-1, T, order="F")[idx].astype(np.float64)
    counts = np.bincount(lab[idx] - 1, minlength=n_rois)
    ts = np.stack([np.bincount(lab[idx] - 1, weights=vox[:, t], minlength=n_rois) for t in range(T)])
    return ts / counts


def denoise(ts, conf_header, conf):
    """Regress out WM, CSF and a linear trend.  In this model the nuisance is
    three global signals (physiology, motion artefact, linear drift) with
    different tissue gains, so WM + CSF + trend span it; adding the 12 motion
    regressors would only fit sampling noise of smooth signals at T = 100."""
    X = np.nan_to_num(conf[:, [conf_header.index(c) for c in ("csf", "white_matter")]])
    t = np.arange(ts.shape[0])
    X = np.column_stack([np.ones_like(t), t, X])
    beta = np.linalg.lstsq(X, ts, rcond=None)[0]
    return ts - X @ beta


def check_subject(out, sub, T, tr, n_rois, atlas_img, planted):
    func = os.path.join(out, sub, "func")
    names = {
        "bold": f"{sub}_task-rest_{SPACE}_desc-preproc_bold.nii.gz",
        "json": f"{sub}_task-rest_{SPACE}_desc-preproc_bold.json",
        "mask": f"{sub}_task-rest_{SPACE}_desc-brain_mask.nii.gz",
        "conf": f"{sub}_task-rest_desc-confounds_timeseries.tsv",
        "gt": f"{sub}_task-rest_desc-groundtruth_timeseries.tsv",
        "rel": f"{sub}_task-rest_desc-groundtruth_relmat.tsv",
    }
    missing = [n for n in names.values() if not os.path.exists(os.path.join(func, n))]
    check(not missing, f"{sub}: all files present {missing if missing else ''}")
    if missing:
        return None
    bold = nib.load(os.path.join(func, names["bold"]))
    mask = nib.load(os.path.join(func, names["mask"]))
    check(bold.shape == (91, 109, 91, T), f"{sub}: BOLD shape {bold.shape}")
    check(np.allclose(bold.affine, [[2, 0, 0, -90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]]),
          f"{sub}: 2 mm RAS affine")
    check(abs(float(bold.header["pixdim"][4]) - tr) < 1e-6 and bold.header.get_data_dtype() == np.int16,
          f"{sub}: TR {bold.header['pixdim'][4]} in pixdim[4], dtype {bold.header.get_data_dtype()}")
    m = np.asanyarray(mask.dataobj)
    check(mask.shape == (91, 109, 91) and set(np.unique(m)) == {0, 1}, f"{sub}: mask {mask.shape}, values {{0,1}}")
    with open(os.path.join(func, names["json"])) as f:
        side = json.load(f)
    check(side.get("RepetitionTime") == tr, f"{sub}: sidecar RepetitionTime {side.get('RepetitionTime')}")

    ch, crows = read_tsv(os.path.join(func, names["conf"]))
    conf = numeric(crows)
    needed = ["trans_x", "rot_z", "trans_x_derivative1", "trans_x_power2", "trans_x_derivative1_power2", "csf",
              "white_matter", "global_signal", "global_signal_derivative1", "framewise_displacement", "dvars"]
    needed += ["a_comp_cor_%02d" % k for k in range(6)]
    check(all(c in ch for c in needed) and conf.shape == (T, len(ch)), f"{sub}: confound columns, {conf.shape[0]} rows")
    first_na = [c for c in ch if np.isnan(conf[0, ch.index(c)])]
    expect_na = [c for c in ch if "derivative1" in c or c in ("framewise_displacement", "dvars")]
    check(sorted(first_na) == sorted(expect_na) and not np.isnan(conf[1:]).any(),
          "n/a exactly in the first row of derivative, FD and DVARS columns")
    mot = conf[:, [ch.index(c) for c in ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]]]
    fd = np.abs(np.diff(mot[:, :3], axis=0)).sum(1) + 50 * np.abs(np.diff(mot[:, 3:], axis=0)).sum(1)
    check(np.allclose(fd, conf[1:, ch.index("framewise_displacement")], atol=1e-5),
          f"{sub}: FD = Power FD of the motion columns (max {fd.max():.2f} mm)")

    _, rrows = read_tsv(os.path.join(func, names["rel"]))
    truth = numeric(rrows, 1)
    _, grows = read_tsv(os.path.join(func, names["gt"]))
    gt = numeric(grows)
    ts = denoise(parcellate(bold, mask, atlas_img, n_rois), ch, conf)
    fc = np.corrcoef(ts, rowvar=False)
    fc_gt = np.corrcoef(gt, rowvar=False)
    iu = np.triu_indices(n_rois, 1)
    r_sample = np.corrcoef(fc[iu], fc_gt[iu])[0, 1]
    r_truth = np.corrcoef(fc[iu], truth[iu])[0, 1]
    r_gt_truth = np.corrcoef(fc_gt[iu], truth[iu])[0, 1]
    check(r_sample > FC_VS_SAMPLE_MIN_R,
          f"{sub}: recovered FC vs ground-truth-series FC r = {r_sample:.3f} (> {FC_VS_SAMPLE_MIN_R})")
    check(r_truth > FC_VS_TRUTH_MIN_R,
          f"{sub}: recovered FC vs true coupling r = {r_truth:.3f} (> {FC_VS_TRUTH_MIN_R}; "
          f"ground-truth series reach {r_gt_truth:.3f})")
    gtd = gt - gt.mean(0)
    tsd = ts - ts.mean(0)
    per_roi = (gtd * tsd).sum(0) / np.sqrt((gtd ** 2).sum(0) * (tsd ** 2).sum(0))
    check(np.median(per_roi) > ROI_MIN_R, f"{sub}: ROI series vs ground truth median r = {np.median(per_roi):.3f}")
    return fc, truth, fc_gt


def main():
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        T, tr, N = 100, 2.0, 2
        check(run(a, f"subjects={N}", f"volumes={T}", f"tr={tr}", "seed=11", "threads=2", "effect=0.4") == 0,
              "simulate 2 subjects (2 threads)")
        with open(os.path.join(a, "dataset_description.json")) as f:
            desc = json.load(f)
        check(desc.get("DatasetType") == "derivative", "dataset_description DatasetType derivative")
        ph, prow = read_tsv(os.path.join(a, "participants.tsv"))
        check(ph == ["participant_id", "group"] and [r[1] for r in prow] == ["control", "patient"],
              f"participants.tsv groups {[r[1] for r in prow]}")
        atlas_img = nib.load(os.path.join(a, "atlas", f"atlas-Grid_{SPACE}_dseg.nii.gz"))
        ah, arows = read_tsv(os.path.join(a, "atlas", "atlas-Grid_dseg.tsv"))
        n_rois = len(arows)
        planted = np.array([int(r[ah.index("planted")]) for r in arows], bool)
        check(n_rois > 50 and planted.sum() > 4, f"grid atlas: {n_rois} ROIs, {planted.sum()} planted")
        fcs = []
        for s in range(N):
            res = check_subject(a, "sub-%02d" % (s + 1), T, tr, n_rois, atlas_img, planted)
            fcs.append(res)
        if all(r is not None for r in fcs):
            # Planted difference: edges between planted ROIs of different networks.
            net = np.array([int(r[ah.index("network")]) for r in arows])
            pairs = np.array([[planted[i] and planted[j] and net[i] != net[j] for j in range(n_rois)]
                              for i in range(n_rois)])
            check(np.allclose(fcs[1][1][pairs], 0.4, atol=1e-6) and np.allclose(fcs[0][1][pairs], 0.0),
                  "true coupling on planted cross-network edges: 0.4 in the patient, 0 in the control")
            control, patient = fcs[0][0][pairs].mean(), fcs[1][0][pairs].mean()
            sample_diff = fcs[1][2][pairs].mean() - fcs[0][2][pairs].mean()
            check(patient - control > 0.5 * sample_diff and sample_diff > 0,
                  f"planted edges: recovered patient {patient:.3f} vs control {control:.3f} "
                  f"(ground-truth series difference {sample_diff:.3f})")
        # Determinism on a short run (the check is about the code path, not T).
        a = os.path.join(tmp, "a2")
        check(run(a, "subjects=2", "volumes=24", "seed=5", "threads=2", "dummy=2") == 0 and
              run(b, "subjects=2", "volumes=24", "seed=5", "threads=1", "dummy=2") == 0,
              "same seed with 2 threads and with 1 thread")
        files_a = sorted(os.path.relpath(os.path.join(d, f), a) for d, _, fs in os.walk(a) for f in fs)
        files_b = sorted(os.path.relpath(os.path.join(d, f), b) for d, _, fs in os.walk(b) for f in fs)
        diffs = [f for f in files_a if not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
        check(files_a == files_b and not diffs and len(files_a) == 2 * 6 + 4,
              f"deterministic for a seed across thread counts ({len(files_a)} files identical) {diffs[:3]}")

        if os.path.exists(AAL):
            c = os.path.join(tmp, "aal")
            check(run(c, "subjects=1", "volumes=100", f"atlas={AAL}", "seed=3") == 0, "simulate with AAL")
            ah, arows = read_tsv(os.path.join(c, "atlas", "atlas-AAL_dseg.tsv"))
            check(len(arows) == 116 and arows[0][1] == "Precentral_L", f"AAL: {len(arows)} ROIs, first {arows[0][1]}")
            atlas_img = nib.load(os.path.join(c, "atlas", f"atlas-AAL_{SPACE}_dseg.nii.gz"))
            planted = np.array([int(r[ah.index("planted")]) for r in arows], bool)
            check_subject(c, "sub-01", 100, 2.0, len(arows), atlas_img, planted)
        else:
            print("note: mricron-data not installed, AAL run skipped")
        bad = subprocess.run([TOOL, os.path.join(tmp, "bad"), "within=0.8", "effect=0.3"], capture_output=True,
                             text=True)
        check(bad.returncode == 2 and "sum below 1" in bad.stderr, f"bad config: {bad.stderr.strip()}")
        bad = subprocess.run([TOOL, os.path.join(tmp, "bad2"), "atlas=/nonexistent.nii.gz"], capture_output=True,
                             text=True)
        check(bad.returncode != 0 and "nonexistent" in bad.stderr, f"missing atlas: {bad.stderr.strip()}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
