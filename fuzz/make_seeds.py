"""make_seeds.py - writes the hand-made part of the committed seed corpora
(fuzz/corpus/<harness>/seed-*).  Run once with /usr/bin/python3 (numpy and
nibabel) from the source folder; the outputs are committed, so neither the
build nor CI needs Python for fuzzing.  Regression inputs of fixed bugs are
added by hand as fuzz/corpus/<harness>/regress-*.

With BRAINSTAGE=path/to/brainstage in the environment (run from the build
folder, as for the tests), tiny BrainMass and BrainMAE checkpoints are also
trained on a 2-ROI toy cohort and added, so the checkpoint loaders are
reached; their configuration metadata is what the loaders parse.

Every seed is small (well under 4 KiB) and valid, or valid up to one
deliberate defect, so mutations start close to the interesting paths.
"""
import gzip
import io
import json
import os
import struct
import sys

import numpy as np
import nibabel as nib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def nifti_bytes(img):
    bio = io.BytesIO()
    fm = img.make_file_map({"image": bio, "header": bio})
    img.to_file_map(fm)
    return bio.getvalue()


def nifti_seeds():
    rng = np.random.default_rng(0)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-3, -3, -2]
    cases = {
        "f32-4d.nii": nib.Nifti1Image(rng.standard_normal((3, 3, 2, 4)).astype(np.float32), aff),
        "u8-3d.nii": nib.Nifti1Image(rng.integers(0, 5, (4, 3, 2)).astype(np.uint8), aff),
        "f64-2.nii": nib.Nifti2Image(rng.standard_normal((2, 2, 2, 3)), aff),
        "i64-4d.nii": nib.Nifti1Image(rng.integers(-9, 9, (2, 2, 1, 3)).astype(np.int64), aff, dtype=np.int64),
    }
    scaled = nib.Nifti1Image(rng.integers(-100, 100, (3, 2, 2, 3)).astype(np.int16), aff)
    scaled.header.set_slope_inter(0.5, 10.0)
    scaled.header.set_xyzt_units("mm", "msec")
    scaled.header["pixdim"][4] = 2000.0
    cases["i16-scaled.nii"] = scaled
    big = nib.Nifti1Image(rng.integers(0, 60000, (2, 2, 2, 2)).astype(">u2"), aff)
    cases["u16-bigendian.nii"] = big
    qform = nib.Nifti1Image(rng.standard_normal((2, 3, 2, 2)).astype(np.float32), None)
    qform.set_qform(aff, code=1)
    qform.set_sform(None, code=0)
    cases["qform-only.nii"] = qform
    for name, img in cases.items():
        put("nifti", name, nifti_bytes(img))
    put("nifti", "f32-4d.nii.gz", gzip.compress(nifti_bytes(cases["f32-4d.nii"]), mtime=0))
    put("nifti", "f64-2.nii.gz", gzip.compress(nifti_bytes(cases["f64-2.nii"]), mtime=0))


def tsv_seeds():
    rng = np.random.default_rng(1)
    motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    phys = ["csf", "white_matter", "global_signal"]
    cols = []
    for b in motion + phys:
        cols += [b, b + "_derivative1", b + "_power2", b + "_derivative1_power2"]
    cols += ["a_comp_cor_00", "a_comp_cor_01", "a_comp_cor_02", "framewise_displacement",
             "non_steady_state_outlier_00"]
    rows = ["\t".join(cols)]
    for t in range(4):
        vals = []
        for c in cols:
            if t == 0 and ("derivative" in c or c == "framewise_displacement"):
                vals.append("n/a")
            elif c.startswith("non_steady"):
                vals.append("1" if t == 0 else "0")
            else:
                vals.append("%.4g" % rng.standard_normal())
        rows.append("\t".join(vals))
    put("tsv", "confounds.tsv", "\n".join(rows) + "\n")
    put("tsv", "participants.tsv",
        "participant_id\tage\tsex\tgroup\n"
        "sub-01\t23\tF\tcontrol\nsub-02\t31\tM\tpatient\nsub-03\tn/a\tF\tpatient\n04\t40\tM\tcontrol\n")
    put("tsv", "features.tsv", "participant_id\tf0\tf1\tf2\nsub-01\t0.5\t-1e-3\t2\nsub-02\t1\t2\t3.25\n")
    put("tsv", "dseg.tsv", "index\tname\tabbreviation\n1\tPrecentral_L\tPreCG.L\n2\tPrecentral_R\tPreCG.R\n"
        "5\tFrontal_Sup_L\tSFG.L\n")
    put("tsv", "crlf.tsv", "a\tb\r\n1\t2\r\nn/a\t\r\n")
    put("tsv", "timeseries.tsv", "roi0\troi1\troi2\n0.1\t0.2\t0.3\n-1\t1e10\tinf\nnan\t-0\t1\n")


def json_seeds():
    put("json", "sidecar.json", json.dumps({"RepetitionTime": 2.0, "TaskName": "rest",
                                             "SliceTiming": [0, 0.5, 1.0, 1.5], "SkullStripped": False}))
    put("json", "no-tr.json", '{"TaskName": "rest"}')
    put("json", "tr-string.json", '{"RepetitionTime": "2"}')
    put("json", "tr-negative.json", '{"RepetitionTime": -1e308}')
    put("json", "nested.json", '{"a": [1, {"b": null}, "\\u00e9"], "RepetitionTime": 7.2e-1}')
    put("json", "name-entities.json", "sub-01_ses-2_task-rest_run-1_space-MNI_desc-preproc_bold.nii.gz")


def safetensors_bytes(tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name, arr, dtype in tensors:
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta is not None:
        header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors_seeds():
    rng = np.random.default_rng(2)
    put("safetensors", "mixed.safetensors", safetensors_bytes([
        ("a", rng.standard_normal((2, 3)).astype("<f4"), "F32"),
        ("b", rng.standard_normal(3).astype("<f8"), "F64"),
        ("c", np.arange(4, dtype="<i8"), "I64"),
        ("d", np.array([0, 1, 1], dtype=np.uint8), "BOOL"),
        ("e", np.array([1.5, -2], dtype="<f2"), "F16"),
        ("f", np.array([0x3f80, 0xc000], dtype="<u2"), "BF16"),
        ("g", np.zeros((0, 5), dtype="<i4"), "I32"),
    ], {"format": "pt", "note": "seed"}))
    put("safetensors", "features.safetensors", safetensors_bytes(
        [("features", rng.standard_normal((2, 3)).astype("<f4"), "F32")],
        {"participant_id": json.dumps(["sub-01", "sub-02"])}))


def head_seeds():
    rng = np.random.default_rng(3)
    d = 3
    scaler = [("scaler.mean", rng.standard_normal(d), "F64"), ("scaler.scale", rng.random(d) + 0.5, "F64")]
    put("safetensors", "head-logreg.safetensors", safetensors_bytes(
        [("linear.weight", rng.standard_normal((1, d)), "F64"), ("linear.bias", np.zeros(1), "F64")] + scaler,
        {"brainstage.head.kind": "logreg", "brainstage.head.n_classes": "2",
         "brainstage.head.classes": json.dumps(["control", "patient"])}))
    put("safetensors", "head-mlp.safetensors", safetensors_bytes(
        [("hidden.weight", rng.standard_normal((4, d)).astype("<f4"), "F32"),
         ("hidden.bias", np.zeros(4, dtype="<f4"), "F32"),
         ("output.weight", rng.standard_normal((3, 4)), "F64"), ("output.bias", np.zeros(3), "F64")],
        {"brainstage.head.kind": "mlp", "brainstage.head.n_classes": "3",
         "brainstage.head.classes": json.dumps(["a", "b", "c"])}))
    put("safetensors", "head-centroid.safetensors", safetensors_bytes(
        [("linear.weight", rng.standard_normal((3, d)), "F64"), ("linear.bias", np.zeros(3), "F64")],
        {"brainstage.head.kind": "centroid", "brainstage.head.n_classes": "3",
         "brainstage.head.temperature": "0.5"}))
    put("safetensors", "head-ridge.safetensors", safetensors_bytes(
        [("linear.weight", rng.standard_normal((1, d)), "F64"), ("linear.bias", np.zeros(1), "F64")],
        {"brainstage.head.kind": "ridge", "brainstage.head.n_classes": "0"}))


def checkpoint_seeds():
    """Tiny trained checkpoints (needs a built brainstage)."""
    import subprocess
    import tempfile
    bs = os.environ.get("BRAINSTAGE")
    if not bs:
        print("BRAINSTAGE not set: checkpoint seeds skipped")
        return
    rng = np.random.default_rng(4)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(4):
            stem = os.path.join(tmp, "sub-%02d_task-rest_atlas-Toy_stat-mean_timeseries" % (i + 1))
            np.savetxt(stem + ".tsv", rng.standard_normal((24, 2)), fmt="%.3f", delimiter="\t",
                       header="r0\tr1", comments="")
            with open(stem + ".json", "w") as f:
                f.write('{"RepetitionTime": 2.0}\n')
        small = ["--depth", "1", "--heads", "1", "--ffn", "1", "--batch", "2"]
        runs = {
            "brainmass.safetensors": ["brainmass", "--steps", "1", "--feat", "1"],
            "brainmae.safetensors": ["brainmae", "--epochs", "1", "--feat", "2", "--segments", "2",
                                     "--window-s", "4"],
        }
        for name, args in runs.items():
            out = os.path.join(tmp, name)
            subprocess.run([bs, "--quiet", "--threads", "1", "pretrain"] + args[:1] + ["--inputs", tmp, "--out", out]
                           + args[1:] + small, check=True)
            with open(out, "rb") as f:
                put("safetensors", name, f.read())


def text_seeds(harness, folder, suffix, limit=4096):
    src = os.path.join(os.path.dirname(ROOT), "..", folder)
    for name in sorted(os.listdir(src)):
        if name.endswith(suffix):
            with open(os.path.join(src, name), "rb") as f:
                data = f.read(limit)
            put(harness, name, data)


def pipeline_seeds():
    text_seeds("pipeline", "pipelines", ".pipeline")
    put("pipeline", "vars.pipeline",
        'stage src test-source rows=${x} cols=${n:-4} seed=$$1\n'
        'stage s   test-scale  input=src factor="2.5" \\\n    # continued\n'
        'sink  s   tsv path=${out}/{entities}_x.tsv\n')
    put("pipeline", "cycle.pipeline", "stage a test-scale input=c\nstage b test-scale input=a\nstage c test-scale input=b\n")
    put("pipeline", "ports.pipeline", "stage a test-source\nstage b test-source\nstage j test-join a=a b=b.output\n")


def atlas_seeds():
    text_seeds("atlas", "atlases", ".atlas")
    put("atlas", "relative.atlas", "name = toy\ntype = prob\nimage = toy.nii.gz\nlabels = toy_dseg.tsv\n# end\n")


if __name__ == "__main__":
    nifti_seeds()
    tsv_seeds()
    json_seeds()
    safetensors_seeds()
    head_seeds()
    checkpoint_seeds()
    pipeline_seeds()
    atlas_seeds()
    sys.exit(0)
