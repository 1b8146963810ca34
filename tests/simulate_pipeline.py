#!/usr/bin/env python3
"""simulate_pipeline.py - end to end through the plugins: simulated fMRIPrep
derivatives -> nifti-source -> atlas-label (mask=auto) -> clean -> fc -> tsv.

  1. strategy=24P + csf/white_matter, band 0.01-0.1 Hz, fd_max 0.5: the clean
     stage keeps exactly the volumes with FD <= 0.5 in the confounds TSV, and
     the fc output equals numpy.corrcoef of the clean output (1e-4).
  2. strategy=custom columns=csf,white_matter, no band-pass, no censoring:
     the FC correlates with the FC of the ground-truth ROI series at r > 0.8
     (the nuisance of the simulator is spanned by WM + CSF + trend).
Exit 77 (skip) without numpy unless BRAINSTAGE_REQUIRE_PYTHON=1.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

BUILD = os.environ.get("top_builddir", ".")
SIM = os.path.join(BUILD, "tests", "test_simulate_tool")
CLI = os.environ.get("BRAINSTAGE", os.path.join(BUILD, "brainstage"))
SPACE = "space-MNI152NLin2009cAsym_res-2"
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def read(path, skip=0):
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    rows = [[np.nan if c == "n/a" else float(c) for c in line.split("\t")[skip:]] for line in lines[1:]]
    return header, np.array(rows)


PIPELINE = """# test pipeline: ROI means, denoising, connectivity
stage bold  nifti-source path=${bold}
stage ts    atlas-label  input=bold atlas=${atlas} labels=${labels} mask=auto
stage clean clean        input=ts confounds=${confounds} %s
stage fc    fc           input=clean kind=pearson
sink  clean tsv          path=${out}/clean.tsv
sink  fc    tsv          path=${out}/fc.tsv
"""


def main():
    if not os.path.exists(CLI):
        print(f"skip: {CLI} not built")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        T = 100
        proc = subprocess.run([SIM, data, "subjects=1", f"volumes={T}", "seed=4"], capture_output=True, text=True)
        check(proc.returncode == 0, f"simulate ({proc.stderr.strip()[-200:]})")
        func = os.path.join(data, "sub-01", "func")
        conf_path = os.path.join(func, "sub-01_task-rest_desc-confounds_timeseries.tsv")
        args = [f"bold={os.path.join(func, f'sub-01_task-rest_{SPACE}_desc-preproc_bold.nii.gz')}",
                f"atlas={os.path.join(data, 'atlas', f'atlas-Grid_{SPACE}_dseg.nii.gz')}",
                f"labels={os.path.join(data, 'atlas', 'atlas-Grid_dseg.tsv')}",
                f"confounds={conf_path}"]
        ch, conf = read(conf_path)
        fd = np.nan_to_num(conf[:, ch.index("framewise_displacement")])
        _, gt = read(os.path.join(func, "sub-01_task-rest_desc-groundtruth_timeseries.tsv"))
        fc_gt = np.corrcoef(gt, rowvar=False)

        for i, params in enumerate([
                "strategy=24P columns=csf,white_matter band=0.01,0.1 fd_max=0.5",
                "strategy=custom columns=csf,white_matter band=0,0 fd_max=0"]):
            out = os.path.join(tmp, f"out{i}")
            os.makedirs(out)
            pipe = os.path.join(tmp, f"p{i}.pipeline")
            with open(pipe, "w") as f:
                f.write(PIPELINE % params)
            proc = subprocess.run([CLI, "--quiet", "--threads", "2", "run", pipe, f"out={out}"] + args,
                                  capture_output=True, text=True)
            check(proc.returncode == 0, f"pipeline {i} ({params}) {proc.stderr.strip()[-300:]}")
            if proc.returncode:
                continue
            header, clean = read(os.path.join(out, "clean.tsv"))
            _, fc = read(os.path.join(out, "fc.tsv"), 1)
            check(header[0].startswith("grid_"), f"pipeline {i}: ROI names from the label table ({header[0]})")
            iu = np.triu_indices(fc.shape[0], 1)
            if i == 0:
                kept = int((fd <= 0.5).sum())
                check(clean.shape[0] == kept, f"pipeline 0: {clean.shape[0]} volumes kept, FD <= 0.5 in {kept}")
                ref = np.corrcoef(clean, rowvar=False)
                err = np.abs(fc - ref)
                check(np.nanmax(err / (1e-4 + 1e-4 * np.abs(ref))) <= 1.0,
                      f"pipeline 0: fc = corrcoef(clean) (max |diff| {np.nanmax(err):.1e})")
            else:
                check(clean.shape[0] == T, f"pipeline 1: all {T} volumes kept")
                r = np.corrcoef(fc[iu], fc_gt[iu])[0, 1]
                check(r > 0.8, f"pipeline 1: FC vs ground-truth-series FC r = {r:.3f} (> 0.8)")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
