#!/usr/bin/env python3
"""xcpd_outputs.py - the shipped pipelines' XCP-D-style outputs and reading
them (and XCP-D's own files) back, end to end through the CLI.

Fixture (written here with nibabel): two subjects of fMRIPrep-shaped
derivatives on a 3 mm grid, a 6-label atlas whose parcels have coverage
1, 0.75, 0.25, 0.5, 1 (constant BOLD: a zero-variance ROI) and 0 (label in
the table but not in the image).

  1. brainstage run fc: _atlas-Toy_stat-mean_timeseries.tsv,
     _stat-coverage_bold.tsv (XCP-D layout: Node, coverage; equal to the
     numpy count in-mask/all, atol 1e-7) with a JSON sidecar (Sources = BOLD
     + atlas), _stat-pearsoncorrelation_relmat.tsv (Node column, n/a rows for
     the NaN and the constant ROI, other entries = numpy.corrcoef of the
     written time series within 1e-5 + 1e-5*|r|).
  2. kind=/fisher= name the relmat: partialcorrelation,
     fisherzledoitwolfcorrelation; naming=seg writes seg-Toy for all three.
  3. atlas label: from a non-BIDS file name (my_toy-atlas -> mytoyatlas),
     atlas_name= override, an invalid atlas_name -> exit 2, one line.
  4. bids participant level writes the coverage table too, and names the
     BOLD run in Sources by a BIDS URI (bids:preprocessed:...) that
     DatasetLinks in dataset_description.json resolves.
  5. reading back: XCP-D-style relmats (pandas' layout: Node index, n/a) of
     12 subjects, half named atlas-Toy, half seg-Toy, one subject with two
     runs, a decoy atlas in the same folders: evaluate --fc-inputs with
     --suffix _atlas-Toy_stat-pearsoncorrelation_relmat.tsv finds all 12 and
     its predictions equal those of evaluate --features on the numpy
     features (upper triangle, n/a -> 0, mean over runs) within 1e-5;
     the seg- spelling of the suffix finds the same files; XCP-D-style time
     series in both namings are found; bids group --fc-suffix reads relmats.
  6. bad input, each exit != 0, one error line naming the problem, nothing
     written: relmat without Node column, not square, rows/columns in
     different order, asymmetric, different nodes across subjects, relmat
     mixed with time series; through the fc pipeline: atlas and BOLD with no
     overlap, atlas with zero labels, confounds with the wrong row count,
     missing TR.  NaN voxels: success, documented warning, finite output.
Exit 77 (skip) without numpy/nibabel unless BRAINSTAGE_REQUIRE_PYTHON=1.
"""
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

CLI = os.environ.get("BRAINSTAGE", os.path.join(os.environ.get("top_builddir", "."), "brainstage"))
SPACE = "space-MNI152NLin2009cAsym"
NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta"]
TR, T = 2.0, 60
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def run(*args):
    p = subprocess.run([CLI, "--quiet", "--threads", "2", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def read_table(path):
    """Header and rows of a TSV as strings."""
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def numbers(rows):
    return np.array([[np.nan if c == "n/a" else float(c) for c in r] for r in rows])


# ---- fixture -------------------------------------------------------------

def atlas_and_mask(shape):
    """Six parcels as slabs along x; the mask removes parts of parcels 2-4."""
    lab = np.zeros(shape, np.int16)
    mask = np.ones(shape, np.uint8)
    lab[0:2] = 1                     # coverage 1
    lab[2:4] = 2                     # coverage 0.75
    lab[4:6] = 3                     # coverage 0.25 -> NaN column
    lab[6:8] = 4                     # coverage 0.5 -> kept (>= min_coverage)
    lab[8:10] = 5                    # coverage 1, constant BOLD
    # label 6 is in the table but not in the image: coverage 0
    ny = shape[1]
    mask[2:4, : ny // 4] = 0
    mask[4:6, : 3 * ny // 4] = 0
    mask[6:8, : ny // 2] = 0
    return lab, mask


def write_fmriprep(root, subjects, rng, shape=(10, 8, 6)):
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    aff[:3, 3] = [-15.0, -12.0, -9.0]
    lab, mask = atlas_and_mask(shape)
    os.makedirs(f"{root}/atlas", exist_ok=True)
    atlas = f"{root}/atlas/atlas-Toy_{SPACE}_dseg.nii.gz"
    nib.save(nib.Nifti1Image(lab, aff), atlas)
    table = f"{root}/atlas/atlas-Toy_dseg.tsv"
    with open(table, "w") as f:
        f.write("index\tname\n" + "".join(f"{i + 1}\t{n}\n" for i, n in enumerate(NAMES)))
    runs = {}
    for sub in subjects:
        d = f"{root}/sub-{sub}/func"
        os.makedirs(d, exist_ok=True)
        stem = f"{d}/sub-{sub}_task-rest_{SPACE}"
        bold = rng.standard_normal(shape + (T,)).astype(np.float32)
        net = rng.standard_normal((T, 5))
        for r in range(5):
            bold[lab == r + 1] += 2.0 * net[:, r]
        bold += 100.0
        bold[lab == 5] = 250.0                        # zero-variance ROI
        img = nib.Nifti1Image(bold, aff)
        img.header.set_xyzt_units("mm", "sec")
        img.header["pixdim"][4] = TR
        nib.save(img, f"{stem}_desc-preproc_bold.nii.gz")
        nib.save(nib.Nifti1Image(mask, aff), f"{stem}_desc-brain_mask.nii.gz")
        with open(f"{stem}_desc-preproc_bold.json", "w") as f:
            json.dump({"RepetitionTime": TR, "TaskName": "rest"}, f)
        write_confounds(f"{d}/sub-{sub}_task-rest_desc-confounds_timeseries.tsv", T, rng)
        runs[sub] = stem
    return atlas, table, lab, mask, runs


def write_confounds(path, rows, rng):
    base = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    cols = []
    for b in base:
        cols += [b, f"{b}_derivative1", f"{b}_power2", f"{b}_derivative1_power2"]
    motion = np.cumsum(0.01 * rng.standard_normal((rows, 6)), axis=0)
    with open(path, "w") as f:
        f.write("\t".join(cols + ["framewise_displacement"]) + "\n")
        for t in range(rows):
            cells = []
            for k in range(6):
                v = motion[t, k]
                d = v - motion[t - 1, k] if t else None
                cells += [f"{v:.6g}", "n/a" if d is None else f"{d:.6g}", f"{v * v:.6g}",
                          "n/a" if d is None else f"{d * d:.6g}"]
            cells.append("n/a" if t == 0 else "0.1")
            f.write("\t".join(cells) + "\n")


def fc_args(stem, atlas, table, out, *extra):
    conf = stem.replace(f"_{SPACE}", "") + "_desc-confounds_timeseries.tsv"
    return ["run", "fc", f"bold={stem}_desc-preproc_bold.nii.gz", f"mask={stem}_desc-brain_mask.nii.gz",
            f"confounds={conf}", "strategy=24P", f"atlas={atlas}", f"labels={table}", f"out={out}", *extra]


def expect_failure(label, rc, err, code, needle, out_dir=None):
    lines = [l for l in err.splitlines() if "error:" in l]
    written = sorted(os.listdir(out_dir)) if out_dir and os.path.isdir(out_dir) else []
    check(rc == code and len(lines) == 1 and needle in err and not written,
          f"{label}: exit {rc} (want {code}), {len(lines)} error line(s), nothing written: {err.strip()[:160]}")


# ---- 1-4: outputs --------------------------------------------------------

def check_outputs(tmp, atlas, table, lab, mask, stem):
    out = f"{tmp}/o1"
    rc, _, err = run(*fc_args(stem, atlas, table, out))
    check(rc == 0, f"fc pipeline runs: {err.strip()[-200:]}")
    ent = f"{out}/sub-01_task-rest_{SPACE}_atlas-Toy"
    for suffix in ("stat-mean_timeseries", "stat-coverage_bold", "stat-pearsoncorrelation_relmat"):
        check(os.path.isfile(f"{ent}_{suffix}.tsv") and os.path.isfile(f"{ent}_{suffix}.json"),
              f"writes {os.path.basename(ent)}_{suffix}.tsv + .json")
    if rc:
        return
    # coverage: XCP-D's layout and definition
    header, rows = read_table(f"{ent}_stat-coverage_bold.tsv")
    ref = np.array([(mask[lab == i + 1] > 0).sum() / max((lab == i + 1).sum(), 1) for i in range(6)])
    got = numbers([r[1:] for r in rows])[:, 0]
    check(header == ["Node", "coverage"] and [r[0] for r in rows] == NAMES,
          f"coverage table: header {header}, one row per node in atlas order")
    check(np.allclose(got, ref, atol=1e-7, rtol=0), f"coverage = in-mask / all parcel voxels: {got} vs {ref}")
    side = json.load(open(f"{ent}_stat-coverage_bold.json"))
    check(any(s.endswith("desc-preproc_bold.nii.gz") for s in side.get("Sources", [])) and atlas in side["Sources"]
          and "RepetitionTime" not in side and "coverage" in side,
          f"coverage sidecar: Sources {side.get('Sources')}, column description, no TR")
    # time series and relmat
    th, trows = read_table(f"{ent}_stat-mean_timeseries.tsv")
    ts = numbers(trows)
    nan_cols = [NAMES[c] for c in range(6) if np.isnan(ts[:, c]).all()]
    check(th == NAMES and nan_cols == ["Gamma", "Zeta"], f"time series: NaN columns {nan_cols} (coverage < 0.5)")
    check("constant (zero variance)" in err and "min_coverage" in err,
          "warnings name the low-coverage and the constant ROI")
    rh, rrows = read_table(f"{ent}_stat-pearsoncorrelation_relmat.tsv")
    rel = numbers([r[1:] for r in rrows])
    undefined = [NAMES[i] for i in range(6) if np.isnan(np.delete(rel[i], i)).all()]
    check(rh == ["Node"] + NAMES and [r[0] for r in rrows] == NAMES and undefined == ["Gamma", "Epsilon", "Zeta"],
          f"relmat: Node column, n/a rows for {undefined} (NaN and zero-variance ROIs)")
    ok = [0, 1, 3]
    ref = np.corrcoef(ts[:, ok].T)
    err_r = np.abs(rel[np.ix_(ok, ok)] - ref) - (1e-5 + 1e-5 * np.abs(ref))
    check((err_r <= 0).all(), f"relmat = numpy.corrcoef of the written series (max excess {err_r.max():.2g})")

    # 2. kind/fisher/naming
    for extra, stat in ((["kind=partial"], "partialcorrelation"),
                        (["kind=ledoit_wolf", "fisher=yes"], "fisherzledoitwolfcorrelation")):
        o = f"{tmp}/o_{stat}"
        rc, _, err = run(*fc_args(stem, atlas, table, o, *extra))
        rel = sorted(f for f in os.listdir(o) if f.endswith("_relmat.tsv")) if rc == 0 else []
        check(rel == [f"sub-01_task-rest_{SPACE}_atlas-Toy_stat-{stat}_relmat.tsv"], f"{' '.join(extra)}: {rel}")
    o = f"{tmp}/o_seg"
    rc, _, err = run(*fc_args(stem, atlas, table, o, "naming=seg"))
    names = sorted(os.listdir(o)) if rc == 0 else []
    check(len(names) == 6 and all("_seg-Toy_stat-" in n for n in names), f"naming=seg: {names[:3]}...")

    # 3. atlas label
    plain = f"{tmp}/my_toy-atlas.nii.gz"
    with open(atlas, "rb") as src, open(plain, "wb") as dst:
        dst.write(src.read())
    for extra, label in (([], "mytoyatlas"), (["atlas_name=Custom7"], "Custom7")):
        o = f"{tmp}/o_{label}"
        rc, _, err = run(*fc_args(stem, plain, table, o, *extra))
        names = sorted(os.listdir(o)) if rc == 0 else []
        check(len(names) == 6 and all(f"_atlas-{label}_stat-" in n for n in names),
              f"atlas={os.path.basename(plain)} {' '.join(extra)}: label {label}")
    rc, _, err = run(*fc_args(stem, plain, table, f"{tmp}/o_bad", "atlas_name=my_atlas"))
    expect_failure("atlas_name with an underscore", rc, err, 2, "atlas_name 'my_atlas'", f"{tmp}/o_bad")


def check_bids_participant(tmp, fmriprep, atlas):
    out = f"{tmp}/bids_out"
    rc, _, err = run("bids", fmriprep, out, "participant", "--pipeline", "fc", "--atlas", atlas,
                     "--participant-label", "01", "--var", "strategy=24P")
    cov = f"{out}/sub-01/func/sub-01_task-rest_{SPACE}_atlas-Toy_stat-coverage_bold.tsv"
    check(rc == 0 and os.path.isfile(cov), f"bids participant writes the coverage table: {err.strip()[-200:]}")
    # Sources name the BOLD run by a BIDS URI, which DatasetLinks resolves
    # to the fMRIPrep folder (XCP-D's convention)
    desc = json.load(open(f"{out}/dataset_description.json"))
    link = desc.get("DatasetLinks", {}).get("preprocessed")
    check(link is not None and os.path.samefile(link, fmriprep), f"DatasetLinks.preprocessed = fMRIPrep folder: {link}")
    for kind in ("stat-coverage_bold", "stat-mean_timeseries", "stat-pearsoncorrelation_relmat"):
        side = json.load(open(f"{out}/sub-01/func/sub-01_task-rest_{SPACE}_atlas-Toy_{kind}.json"))
        uris = [s for s in side.get("Sources", []) if s.startswith("bids:preprocessed:")]
        ok = len(uris) == 1 and link is not None and uris[0].endswith("desc-preproc_bold.nii.gz") and \
            os.path.isfile(os.path.join(link, uris[0][len("bids:preprocessed:"):]))
        check(ok, f"{kind} sidecar: the BOLD run as a BIDS URI that resolves: {side.get('Sources')}")


# ---- 5: reading XCP-D-style outputs back ---------------------------------

def pandas_float(v):
    """What pandas' to_csv writes for a float64 (repr), or n/a."""
    return "n/a" if np.isnan(v) else repr(float(v))


def write_relmat(path, m, nodes):
    with open(path, "w") as f:
        f.write("Node\t" + "\t".join(nodes) + "\n")
        for i, n in enumerate(nodes):
            f.write(n + "\t" + "\t".join(pandas_float(v) for v in m[i]) + "\n")


def cohort(root, rng, n_sub=12, R=8):
    """XCP-D-style derivatives: relmats + time series, atlas- and seg- names."""
    nodes = [f"Node{i}" for i in range(R)]
    feats, ids = [], []
    with open(f"{root}/participants.tsv", "w") as f:
        f.write("participant_id\tgroup\n")
        for s in range(n_sub):
            f.write(f"sub-{s + 1:02d}\t{'patient' if s % 2 else 'control'}\n")
    for s in range(n_sub):
        sub = f"sub-{s + 1:02d}"
        ent = "seg" if s % 3 == 0 else "atlas"
        d = f"{root}/{sub}/func"
        os.makedirs(d)
        runs = [1, 2] if s == 4 else [1]
        vecs = []
        for r in runs:
            x = rng.standard_normal((50, R))
            x[:, :3] += (0.9 if s % 2 else 0.0) * rng.standard_normal((50, 1))
            m = np.corrcoef(x.T)
            if s == 7:
                m[5, :] = m[:, 5] = np.nan                # an undefined node, n/a in the file
            stem = f"{d}/{sub}_task-rest_run-{r}_{SPACE}_{ent}-Toy"
            write_relmat(f"{stem}_stat-pearsoncorrelation_relmat.tsv", m, nodes)
            with open(f"{stem}_stat-mean_timeseries.tsv", "w") as f:
                f.write("\t".join(nodes) + "\n")
                for row in x:
                    f.write("\t".join(pandas_float(v) for v in row) + "\n")
            with open(f"{stem}_stat-mean_timeseries.json", "w") as f:
                json.dump({"RepetitionTime": TR}, f)
            vecs.append(np.nan_to_num(m[np.triu_indices(R, 1)], nan=0.0))
        # a decoy parcellation next to it: other node count
        other = np.corrcoef(rng.standard_normal((50, 5)).T)
        write_relmat(f"{d}/{sub}_task-rest_run-1_{SPACE}_atlas-Other_stat-pearsoncorrelation_relmat.tsv", other,
                     [f"o{i}" for i in range(5)])
        feats.append(np.mean(vecs, axis=0))
        ids.append(sub)
    with open(f"{root}/features.tsv", "w") as f:
        f.write("participant_id\t" + "\t".join(f"f{j}" for j in range(len(feats[0]))) + "\n")
        for i, v in zip(ids, feats):
            f.write(i + "\t" + "\t".join(repr(float(x)) for x in v) + "\n")
    return nodes


def predictions(prefix):
    header, rows = read_table(f"{prefix}_predictions.tsv")
    k = [i for i, h in enumerate(header) if h.startswith("score_")]
    return [r[0] for r in rows], np.array([[float(r[i]) for i in k] for r in rows])


def check_reading(tmp, rng):
    root = f"{tmp}/xcpd"
    os.makedirs(root)
    nodes = cohort(root, rng)
    P = f"{root}/participants.tsv"
    common = ["--participants", P, "--label", "group", "--head", "logreg", "--folds", "3"]
    rc, out, err = run("evaluate", "--fc-inputs", root, "--suffix", "_atlas-Toy_stat-pearsoncorrelation_relmat.tsv",
                       *common, "--out", f"{tmp}/ev_relmat")
    check(rc == 0, f"evaluate on relmats: {err.strip()[-200:]}")
    rc2, _, err2 = run("evaluate", "--features", f"{root}/features.tsv", *common, "--out", f"{tmp}/ev_ref")
    if rc == 0 and rc2 == 0:
        ids, got = predictions(f"{tmp}/ev_relmat")
        ids_ref, ref = predictions(f"{tmp}/ev_ref")
        worst = np.abs(got - ref).max() if got.shape == ref.shape else np.inf
        check(len(ids) == 12 and ids == ids_ref and worst <= 1e-5,
              f"relmat features (both namings, 2 runs averaged, n/a -> 0) = numpy's: {len(ids)} subjects, "
              f"max |score diff| {worst:.2g}")
    rc, out, err = run("evaluate", "--fc-inputs", root, "--suffix", "_seg-Toy_stat-pearsoncorrelation_relmat.tsv",
                       *common, "--out", f"{tmp}/ev_seg")
    if rc == 0:
        ids, got = predictions(f"{tmp}/ev_seg")
    check(rc == 0 and len(ids) == 12, f"the seg- spelling of --suffix finds the atlas- files too: {err.strip()[-160:]}")
    rc, out, err = run("evaluate", "--fc-inputs", root, "--suffix", "_atlas-Toy_stat-mean_timeseries.tsv",
                       *common, "--out", f"{tmp}/ev_ts")
    ids = predictions(f"{tmp}/ev_ts")[0] if rc == 0 else []
    check(rc == 0 and len(ids) == 12, f"XCP-D-style time series in both namings: {len(ids)} subjects")
    rc, out, err = run("bids", root, root, "group", "--participants", P, "--folds", "3", "--models", "none",
                       "--fc-suffix", "_atlas-Toy_stat-pearsoncorrelation_relmat.tsv")
    check(rc == 0 and "3-fold" in out and os.path.isfile(f"{root}/group/eval-fc_head-logreg_metrics.tsv"),
          f"bids group --fc-suffix reads relmats: {err.strip()[-160:]}")

    # 6. bad relmats
    bad = f"{tmp}/bad"
    m = np.corrcoef(rng.standard_normal((30, 3)).T)
    cases = {
        "no Node column": ("Region\ta\tb\tc\n" + "".join(f"{n}\t" + "\t".join(map(repr, m[i])) + "\n"
                                                       for i, n in enumerate("abc")), 4, "expected 'Node'"),
        "not square": ("Node\ta\tb\tc\n" + "".join(f"{n}\t" + "\t".join(map(repr, m[i])) + "\n"
                                                 for i, n in enumerate("ab")), 4, "square"),
        "rows in another order": ("Node\ta\tb\tc\n" + "".join(f"{n}\t" + "\t".join(map(repr, m[i])) + "\n"
                                                            for i, n in enumerate("acb")), 4, "same order"),
        "asymmetric": ("Node\ta\tb\tc\n" + "".join(f"{n}\t" + "\t".join(map(repr, m[i] + (0.1 if i == 1 else 0)))
                                                 + "\n" for i, n in enumerate("abc")), 4, "not symmetric"),
    }
    for k, (label, (text, code, needle)) in enumerate(cases.items()):
        d = f"{bad}/{k}"
        os.makedirs(d)
        with open(f"{d}/sub-01_atlas-Toy_stat-pearsoncorrelation_relmat.tsv", "w") as f:
            f.write(text)
        write_relmat(f"{d}/sub-02_atlas-Toy_stat-pearsoncorrelation_relmat.tsv", m, list("abc"))
        rc, _, err = run("evaluate", "--fc-inputs", d, "--suffix", "_relmat.tsv", *common, "--out", f"{d}/o/x")
        expect_failure(f"relmat {label}", rc, err, code, needle, f"{d}/o")
    d = f"{bad}/names"
    os.makedirs(d)
    write_relmat(f"{d}/sub-01_atlas-Toy_stat-pearsoncorrelation_relmat.tsv", m, list("abc"))
    write_relmat(f"{d}/sub-02_atlas-Toy_stat-pearsoncorrelation_relmat.tsv", m, list("abd"))
    rc, _, err = run("evaluate", "--fc-inputs", d, "--suffix", "_relmat.tsv", *common, "--out", f"{d}/o/x")
    expect_failure("relmats with different nodes", rc, err, 10, "node 3 is 'd'", f"{d}/o")
    sub1 = f"{root}/sub-01/func/sub-01_task-rest_run-1_{SPACE}_seg-Toy"
    rc, _, err = run("evaluate", "--fc-inputs", f"{sub1}_stat-pearsoncorrelation_relmat.tsv",
                     f"{sub1}_stat-mean_timeseries.tsv", *common, "--out", f"{bad}/mix/x")
    expect_failure("relmat mixed with a time series", rc, err, 2, "mixes", f"{bad}/mix")
    del nodes


# ---- 6: bad inputs through the fc pipeline --------------------------------

def check_bad_inputs(tmp, atlas, table, stem, rng):
    bold_path = f"{stem}_desc-preproc_bold.nii.gz"
    img = nib.load(bold_path)
    lab_img = nib.load(atlas)
    # no overlap: the atlas 1 m away
    far = lab_img.affine.copy()
    far[:3, 3] += 1000.0
    p = f"{tmp}/far_atlas.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(lab_img.dataobj), far), p)
    rc, _, err = run(*fc_args(stem, p, table, f"{tmp}/b1"))
    expect_failure("atlas and BOLD with no overlap", rc, err, 10, "do not overlap", f"{tmp}/b1")
    p = f"{tmp}/zero_atlas.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(lab_img.shape, np.int16), lab_img.affine), p)
    rc, _, err = run(*fc_args(stem, p, "", f"{tmp}/b2"))
    expect_failure("atlas with zero labels", rc, err, 10, "no labels", f"{tmp}/b2")
    # confounds with the wrong row count
    d = f"{tmp}/short/sub-01/func"
    os.makedirs(d)
    for suffix in ("_desc-preproc_bold.nii.gz", "_desc-preproc_bold.json", "_desc-brain_mask.nii.gz"):
        os.symlink(stem + suffix, f"{d}/sub-01_task-rest_{SPACE}{suffix}")
    write_confounds(f"{d}/sub-01_task-rest_desc-confounds_timeseries.tsv", T - 1, rng)
    rc, _, err = run(*fc_args(f"{d}/sub-01_task-rest_{SPACE}", atlas, table, f"{tmp}/b3"))
    expect_failure("confounds with the wrong row count", rc, err, 10, f"has {T - 1} rows", f"{tmp}/b3")
    # missing TR: no sidecar and pixdim[4] = 0
    d = f"{tmp}/notr/sub-01/func"
    os.makedirs(d)
    data = np.asarray(img.dataobj)
    noTR = nib.Nifti1Image(data, img.affine)
    noTR.header["pixdim"][4] = 0.0
    nib.save(noTR, f"{d}/sub-01_task-rest_{SPACE}_desc-preproc_bold.nii.gz")
    os.symlink(f"{stem}_desc-brain_mask.nii.gz", f"{d}/sub-01_task-rest_{SPACE}_desc-brain_mask.nii.gz")
    os.symlink(stem.replace(f"_{SPACE}", "") + "_desc-confounds_timeseries.tsv",
               f"{d}/sub-01_task-rest_desc-confounds_timeseries.tsv")
    rc, _, err = run(*fc_args(f"{d}/sub-01_task-rest_{SPACE}", atlas, table, f"{tmp}/b4"))
    expect_failure("missing TR", rc, err, 10, "repetition time is unknown", f"{tmp}/b4")
    # NaN voxels: skipped, with a warning; the ROI stays finite
    d = f"{tmp}/nan/sub-01/func"
    os.makedirs(d)
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0, 5] = data[1, 2, 3, 9] = np.nan
    nan_img = nib.Nifti1Image(data, img.affine)
    nan_img.header["pixdim"][4] = TR
    nib.save(nan_img, f"{d}/sub-01_task-rest_{SPACE}_desc-preproc_bold.nii.gz")
    for suffix in ("_desc-preproc_bold.json", "_desc-brain_mask.nii.gz"):
        os.symlink(stem + suffix, f"{d}/sub-01_task-rest_{SPACE}{suffix}")
    os.symlink(stem.replace(f"_{SPACE}", "") + "_desc-confounds_timeseries.tsv",
               f"{d}/sub-01_task-rest_desc-confounds_timeseries.tsv")
    rc, _, err = run(*fc_args(f"{d}/sub-01_task-rest_{SPACE}", atlas, table, f"{tmp}/b5"))
    ts_path = f"{tmp}/b5/sub-01_task-rest_{SPACE}_atlas-Toy_stat-mean_timeseries.tsv"
    finite = rc == 0 and np.isfinite(numbers(read_table(ts_path)[1])[:, 0]).all()
    check(rc == 0 and "NaN voxel values" in err and finite,
          f"NaN voxels: exit {rc}, warned, ROI 'Alpha' finite (nanmean over the other voxels)")


def main():
    if not os.path.exists(CLI):
        print(f"skip: {CLI} not built")
        return 77
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        fmriprep = f"{tmp}/fmriprep"
        atlas, table, lab, mask, runs = write_fmriprep(fmriprep, ["01", "02"], rng)
        check_outputs(tmp, atlas, table, lab, mask, runs["01"])
        check_bids_participant(tmp, fmriprep, atlas)
        check_reading(tmp, rng)
        check_bad_inputs(tmp, atlas, table, runs["01"], rng)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
