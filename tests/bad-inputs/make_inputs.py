"""make_inputs.py DIR - writes the inputs of tests/bad-inputs/cases.tsv.

One good small run (sub-01_task-rest_..._bold.nii.gz, 8x8x6 voxels x 40
volumes, TR 2 s, its JSON sidecar and an fMRIPrep-style confounds table),
good group-level files (ROI time series, participants.tsv, features) and a
tiny BrainMass-like safetensors image, then every malformed variant the
table names: each file differs from a good one by exactly one defect, so
the expected error is unambiguous.  NIfTI byte offsets follow the NIfTI-1/2
header layouts (dim at 40 / 16, pixdim at 76 / 104, vox_offset at 108 / 168).
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import nibabel as nib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(6)
T = 40
STEM = "sub-01_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold"


def path(name):
    return os.path.join(out, name)


def write(name, data):
    with open(path(name), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def bold_image(data=None, nifti2=False):
    if data is None:
        data = (100 + rng.standard_normal((8, 8, 6, T))).astype(np.float32)
    aff = np.diag([6.0, 6.0, 6.0, 1.0])
    aff[:3, 3] = [-24, -24, -15]
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(data, aff)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    img.set_qform(aff, code=4)
    img.set_sform(aff, code=4)
    return img


def save(img, name):
    nib.save(img, path(name))
    with open(path(name), "rb") as f:
        return f.read()


def patch(raw, offset, fmt, *values):
    b = bytearray(raw)
    struct.pack_into(fmt, b, offset, *values)
    return bytes(b)


# ---- good run ----
good = bold_image()
save(good, STEM + ".nii.gz")
plain = save(good, "plain_bold.nii")
write(STEM + ".json", json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"}) + "\n")
motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
cols = []
for base in motion + ["csf", "white_matter", "global_signal"]:
    cols += [base, base + "_derivative1", base + "_power2", base + "_derivative1_power2"]
cols.append("framewise_displacement")
vals = rng.standard_normal((T, len(cols))) * 0.05
vals[:, -1] = np.abs(vals[:, -1])


def confounds(name, rows, edit=None):
    lines = ["\t".join(cols)]
    for t in range(rows):
        cells = ["%.6g" % v for v in vals[t % T]]
        if t == 0:
            cells = ["n/a" if ("derivative" in c or c == "framewise_displacement") else x
                     for c, x in zip(cols, cells)]
        if edit:
            cells = edit(t, cells)
        lines.append("\t".join(cells))
    write(name, "\n".join(lines) + "\n")


confounds("confounds.tsv", T)

# ---- NIfTI defects ----
full = gzip.decompress(open(path(STEM + ".nii.gz"), "rb").read())
write("truncated_bold.nii.gz", gzip.compress(full)[:2000])
write("truncated_bold.nii", plain[: len(plain) // 2])
write("empty_bold.nii", b"")
write("short_header_bold.nii", plain[:200])
write("badmagic_bold.nii", plain[:344] + b"XXXX" + plain[348:])
write("badsize_bold.nii", patch(plain, 0, "<i", 123))
write("dim0_bold.nii", patch(plain, 40, "<h", 9))
write("zerodim_bold.nii", patch(plain, 42, "<h", 0))
write("negdim_bold.nii", patch(plain, 44, "<h", -5))
write("hugedim_bold.nii", patch(plain, 42, "<hhhh", 32767, 32767, 32767, 32767))
write("hugedim_bold.nii.gz", gzip.compress(patch(plain, 42, "<hhhh", 32767, 32767, 32767, 32767)))
write("negtr_bold.nii", patch(plain, 76 + 4 * 4, "<f", -2.0))
write("nantr_bold.nii", patch(plain, 76 + 4 * 4, "<f", float("nan")))
write("negvoxel_bold.nii", patch(plain, 76 + 4 * 1, "<f", -6.0))
write("negvoxel_qform_bold.nii", patch(patch(plain, 254, "<h", 0), 76 + 4 * 1, "<f", -6.0))
write("voxoffset_bold.nii", patch(plain, 108, "<f", 1e9))
write("badunits_bold.nii", patch(plain, 123, "<B", 0x20 | 2))  # Hz instead of s: not a TR
n2 = save(bold_image(nifti2=True), "nifti2_bold.nii")
write("nifti2_dim0_bold.nii", patch(n2, 16, "<q", 16777222))
nan_data = (100 + rng.standard_normal((8, 8, 6, T))).astype(np.float32)
nan_data[:, :, :, 7] = np.nan
save(bold_image(nan_data), "nan_bold.nii.gz")
inf_data = nan_data.copy()
inf_data[:, :, :, 7] = np.inf
save(bold_image(inf_data), "inf_bold.nii.gz")
nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.complex64), np.eye(4)), path("complex_bold.nii"))
three_d = nib.Nifti1Image(np.ones((8, 8, 6), np.float32), good.affine)
nib.save(three_d, path("threed_bold.nii.gz"))
os.makedirs(path("folder_bold.nii.gz"), exist_ok=True)

# ---- sidecar defects ----
write("badjson.json", '{"RepetitionTime": 2.0,,}\n')
write("negtr.json", '{"RepetitionTime": -2}\n')
write("strtr.json", '{"RepetitionTime": "2s"}\n')
write("array.json", '[2.0]\n')

# ---- confounds defects ----
confounds("short_confounds.tsv", T - 3)
confounds("long_confounds.tsv", T + 5)
confounds("nomotion_confounds.tsv", T)
with open(path("nomotion_confounds.tsv")) as f:
    text = f.read().replace("trans_x\t", "trans_q\t", 1)
write("nomotion_confounds.tsv", text)
confounds("na_confounds.tsv", T, lambda t, c: ["n/a"] + c[1:] if t == 10 else c)
confounds("inf_confounds.tsv", T, lambda t, c: c[:2] + ["inf"] + c[3:] if t == 5 else c)
confounds("text_confounds.tsv", T, lambda t, c: c[:3] + ["abc"] + c[4:] if t == 5 else c)
confounds("ragged_confounds.tsv", T, lambda t, c: c[:-1] if t == 12 else c)

# ---- group level: ROI time series, participants, features ----
g = path("group")
os.makedirs(g, exist_ok=True)
ts_cols = ["roi%d" % r for r in range(4)]
for s in range(1, 5):
    x = rng.standard_normal((30, 4))
    lines = ["\t".join(ts_cols)] + ["\t".join("%.5f" % v for v in row) for row in x]
    stem = os.path.join(g, "sub-%02d_task-rest_atlas-Toy_stat-mean_timeseries" % s)
    write(stem + ".tsv", "\n".join(lines) + "\n")
    write(stem + ".json", '{"RepetitionTime": 2.0}\n')
bad = path("badgroup")
os.makedirs(bad, exist_ok=True)
lines = ["\t".join(ts_cols)] + ["\t".join("%.5f" % v for v in rng.standard_normal(4)) for _ in range(30)]
lines[9] = "\t".join(lines[9].split("\t")[:3])
write(os.path.join("badgroup", "sub-01_task-rest_atlas-Toy_stat-mean_timeseries.tsv"), "\n".join(lines) + "\n")
write("participants.tsv", "participant_id\tgroup\n" + "".join(
    "sub-%02d\t%s\n" % (s, "a" if s % 2 else "b") for s in range(1, 5)))
write("participants_missing.tsv", "participant_id\tgroup\nsub-01\ta\nsub-02\tb\nsub-03\ta\n")
write("participants_dup.tsv", "participant_id\tgroup\nsub-01\ta\nsub-02\tb\nsub-03\ta\nsub-04\tb\n01\ta\n")
feat = ["participant_id\tf0\tf1"] + ["sub-%02d\t%.3f\t%.3f" % (s, s * 0.5, -s) for s in range(1, 5)]
write("features.tsv", "\n".join(feat) + "\n")
feat_nan = list(feat)
feat_nan[3] = "sub-03\tnan\t1.0"
write("features_nan.tsv", "\n".join(feat_nan) + "\n")


# ---- safetensors defects (as --features inputs and --weights checkpoints) ----
def st_bytes(tensors, meta=None, hlen=None):
    header, blobs, off = {}, [], 0
    for name, arr in tensors:
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta is not None:
        header["__metadata__"] = meta
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if hlen is None else hlen) + text + b"".join(blobs)


ids = {"participant_id": json.dumps(["sub-%02d" % s for s in range(1, 5)])}
X = rng.standard_normal((4, 3))
write("features.safetensors", st_bytes([("features", X)], ids))
good_st = st_bytes([("features", X)], ids)
write("st_hlen_overflow.safetensors", struct.pack("<Q", 2**63 + 5) + good_st[8:])
write("st_hlen_past_end.safetensors", struct.pack("<Q", len(good_st)) + good_st[8:])
hdr_len = struct.unpack("<Q", good_st[:8])[0]
header = json.loads(good_st[8:8 + hdr_len])
header["features"]["data_offsets"] = [0, 48 + 4096]
text = json.dumps(header).encode()
write("st_offsets_oob.safetensors", struct.pack("<Q", len(text)) + text + good_st[8 + hdr_len:])
header["features"]["data_offsets"] = [0, 44]
text = json.dumps(header).encode()
write("st_size_mismatch.safetensors", struct.pack("<Q", len(text)) + text + good_st[8 + hdr_len:])
write("st_truncated.safetensors", good_st[: len(good_st) - 10])
write("st_badjson.safetensors", struct.pack("<Q", hdr_len) + b"{" + good_st[9:8 + hdr_len - 1].replace(b":", b";", 1)
      + b"}" + good_st[8 + hdr_len:])
Xn = X.copy()
Xn[1, 2] = np.nan
write("st_nan.safetensors", st_bytes([("features", Xn)], ids))
write("not_a_checkpoint.safetensors", st_bytes([("weight", X)], {"format": "pt"}))

# ---- pipelines (the good one, then one defect each) ----
write("fc.pipeline", """# the good pipeline: parcellate, clean (36P), FC; three sinks
stage bold  nifti-source path=${bold} sidecar=${sidecar:-auto}
stage ts    atlas-grid   input=bold size=12 mask=none min_coverage=0
stage clean clean        input=ts confounds=${confounds} strategy=36P band=0.01,0.2
stage fc    fc           input=clean
sink  clean tsv          path=${out}/{entities}_stat-mean_timeseries.tsv
sink  fc    tsv          path=${out}/{entities}_relmat.tsv
sink  fc    safetensors  path=${out}/{entities}_relmat.safetensors name=fc
""")
head = "stage bold nifti-source path=${bold}\n"
write("typo.pipeline", head + "stage ts atlas-grid input=bold sise=12\n")
write("cycle.pipeline", head + "stage a clean input=c strategy=none\nstage b clean input=a strategy=none\n"
      "stage c clean input=b strategy=none\n")
write("quote.pipeline", head + 'stage ts atlas-grid input=bold mask="none\n')
write("range.pipeline", head + "stage ts atlas-grid input=bold size=-1\n")
write("number.pipeline", head + "stage ts atlas-grid input=bold size=12mm\n")
write("type.pipeline", head + "stage ts atlas-gird input=bold\n")
write("dup.pipeline", head + "stage bold atlas-grid input=bold\n")
write("dangling.pipeline", head + "stage ts atlas-grid input=blod\n")
write("kinds.pipeline", head + "stage f fc input=bold\n")
write("badvar.pipeline", head + "stage ts atlas-grid input=bold size=${9lives}\n")
write("afile", "not a folder\n")

# ---- checkpoints whose metadata claims sizes the tensors do not have (the
# loaders allocate from the metadata; fuzz_safetensors): patched copies of
# the tiny trained checkpoints of the fuzz seed corpus ----
seeds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus", "safetensors")


def patch_metadata(src, dst, edit):
    with open(os.path.join(seeds, src), "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header["__metadata__"])
    text = json.dumps(header).encode()
    write(dst, struct.pack("<Q", len(text)) + text + raw[8 + n:])


patch_metadata("seed-brainmass.safetensors", "bm_depth_claim.safetensors",
               lambda m: m.update(depth="200", ffn="1000000"))
patch_metadata("seed-brainmae.safetensors", "mae_ffn_claim.safetensors",
               lambda m: m.update(config=m["config"].replace("d_ffn=1 ", "d_ffn=2000000000 ")))
