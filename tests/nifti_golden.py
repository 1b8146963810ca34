"""nifti_golden.py - brainstage's NIfTI reader against nibabel, at test time.

Reads REAL files shipped by Debian packages (python3-nibabel test data,
python3-nipy's functional.nii.gz, mricron-data atlases) plus files written
here with nibabel to cover every datatype, scl_slope/scl_inter, big-endian
data, NIfTI-2, .hdr/.img pairs and millisecond time units.  For each file
the C helper tests/nifti_dump prints the header and dumps the voxels; we
compare header fields, affine, TR and every voxel value against nibabel.

Tolerance on voxels: |ours - ref| <= 1e-6 + 1e-6*|ref| (float32 rounding of
the float64 reference).  Affine: 1e-5 absolute (sform/qform are float32 on
disk, both sides convert the same numbers).
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

require = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
try:
    import numpy as np
    import nibabel as nib
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e)
    sys.exit(1 if require else 77)

builddir = os.environ.get("top_builddir", ".")
DUMP = os.path.join(builddir, "tests", "nifti_dump")

NIB_DATA = "/usr/lib/python3/dist-packages/nibabel/tests/data"
REAL_FILES = [
    NIB_DATA + "/example4d.nii.gz",          # NIfTI-1, int16, 4D, gz
    NIB_DATA + "/example_nifti2.nii.gz",     # NIfTI-2, gz
    NIB_DATA + "/functional.nii",            # 4D, uncompressed
    NIB_DATA + "/anatomical.nii",            # big-endian int16
    NIB_DATA + "/reoriented_anat_moved.nii", # big-endian float32
    NIB_DATA + "/standard.nii.gz",           # sform only
    "/usr/lib/python3/dist-packages/nipy/testing/functional.nii.gz",
    "/usr/lib/python3/dist-packages/nipy/testing/anatomical.nii.gz",
    "/usr/lib/python3/dist-packages/nipy/labs/spatial_models/tests/some_blobs.nii",
    "/usr/share/mricron/templates/aal.nii.gz",
    "/usr/share/mricron/templates/AICHAmc.nii.gz",
    "/usr/share/mricron/templates/JHU-WhiteMatter-labels-2mm.nii.gz",
    "/usr/share/mricron/templates/inia19-NeuroMaps.nii.gz",  # int16 3D
]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def run_dump(path, raw=None, reverse=False):
    cmd = [DUMP, path] + ([raw] if raw else []) + (["reverse"] if reverse else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def parse(out):
    h = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        h[k] = v.split()
    return h


def reference_affine(hdr):
    if int(hdr["sform_code"]) > 0:
        return hdr.get_sform()
    if int(hdr["qform_code"]) > 0:
        return hdr.get_qform()
    # nifticlib's (and our) fallback without codes: scaling by pixdim only.
    a = np.eye(4)
    a[0, 0], a[1, 1], a[2, 2] = hdr["pixdim"][1:4]
    return a


UNIT_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}


def check_file(path, tmp, reverse=False):
    name = os.path.basename(path)
    raw = os.path.join(tmp, "vox.f32")
    rc, out, errtxt = run_dump(path, raw, reverse)
    if rc != 0:
        fail("%s: nifti_dump exited %d: %s" % (name, rc, errtxt.strip()))
        return
    h = parse(out)
    img = nib.load(path)
    hdr = img.header
    version = 2 if isinstance(hdr, nib.Nifti2Header) else 1
    if int(h["version"][0]) != version:
        fail("%s: version %s, nibabel says %d" % (name, h["version"][0], version))
    dims = [int(x) for x in hdr["dim"]]
    ndim = dims[0]
    ours = [int(x) for x in h["dim"]]
    for i in range(1, 8):
        want = dims[i] if i <= ndim else 1
        if ours[i] != want:
            fail("%s: dim[%d] = %d, nibabel %d" % (name, i, ours[i], want))
    if int(h["datatype"][0]) != int(hdr["datatype"]):
        fail("%s: datatype %s vs %d" % (name, h["datatype"][0], int(hdr["datatype"])))
    for key in ("sform_code", "qform_code"):
        if int(h[key][0]) != int(hdr[key]):
            fail("%s: %s %s vs %d" % (name, key, h[key][0], int(hdr[key])))
    nfail = len(failures)
    # pixdim[0] is qfac: nifticlib reports +1 where the file stores 0.
    pix = np.array([float(x) for x in h["pixdim"]])[1:]
    if not np.allclose(pix, np.asarray(hdr["pixdim"], dtype=np.float64)[1:], rtol=1e-6, atol=1e-6):
        fail("%s: pixdim %s vs %s" % (name, pix, hdr["pixdim"]))
    aff = np.array([float(x) for x in h["affine"]]).reshape(4, 4)
    ref_aff = reference_affine(hdr)
    if not np.allclose(aff, ref_aff, atol=1e-5, rtol=0):
        fail("%s: affine\n%s\nvs nibabel\n%s" % (name, aff, ref_aff))
    tunit = hdr.get_xyzt_units()[1]
    ref_tr = float(hdr["pixdim"][4]) * UNIT_SECONDS.get(tunit, 0.0) if ndim >= 4 else 0.0
    if abs(float(h["tr"][0]) - ref_tr) > 1e-9 * max(1.0, abs(ref_tr)):
        fail("%s: tr %s vs %g" % (name, h["tr"][0], ref_tr))
    shape = img.shape + (1,) * (7 - len(img.shape))
    nvox = shape[0] * shape[1] * shape[2]
    nvol = int(np.prod(shape[3:]))
    if int(h["nvox"][0]) != nvox or int(h["nvol"][0]) != nvol:
        fail("%s: nvox/nvol %s/%s vs %d/%d" % (name, h["nvox"][0], h["nvol"][0], nvox, nvol))
    ref = np.asanyarray(img.dataobj).astype(np.float64)
    ref = ref.reshape(shape[:3] + (nvol,), order="F")
    ref = ref.reshape((nvox, nvol), order="F").T.ravel()  # volume after volume, x fastest
    got = np.fromfile(raw, dtype=np.float32).astype(np.float64)
    if got.size != ref.size:
        fail("%s: %d voxels dumped, expected %d" % (name, got.size, ref.size))
        return
    bad = np.abs(got - ref) > 1e-6 + 1e-6 * np.abs(ref)
    same_nan = np.isnan(got) & np.isnan(ref)
    bad &= ~same_nan
    if bad.any():
        i = int(np.argmax(bad))
        fail("%s: %d voxels differ, first at %d: %r vs %r" % (name, int(bad.sum()), i, got[i], ref[i]))
    elif len(failures) == nfail:
        print("ok %-40s v%d dt=%-4d dims=%s tr=%g%s" % (
            name, version, int(hdr["datatype"]), img.shape, ref_tr, " (reverse)" if reverse else ""))


def patch_scaling(path, slope, inter):
    """Sets scl_slope/scl_inter in place (nibabel resets them on save)."""
    hdr = nib.load(path).header
    endian = hdr.endianness
    with open(path, "r+b") as f:
        if isinstance(hdr, nib.Nifti2Header):
            f.seek(176)
            f.write(struct.pack(endian + "dd", slope, inter))
        else:
            f.seek(112)
            f.write(struct.pack(endian + "ff", slope, inter))


def gzip_file(src, dst):
    with open(src, "rb") as fi, gzip.open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)


def synthetic_files(tmp):
    rng = np.random.default_rng(7)
    aff = np.array([[-2.0, 0.1, 0, 30], [0.05, 2.5, 0, -40], [0, 0, 3, -20], [0, 0, 0, 1]])
    files = []
    dtypes = ["u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]
    for n, dt in enumerate(dtypes):
        info = np.iinfo(dt) if dt[0] in "iu" else None
        lo, hi = (max(info.min, -30000), min(info.max, 30000)) if info else (-1e3, 1e3)
        arr = rng.uniform(lo, hi, size=(5, 4, 3, 6)).astype(dt)
        # Two variants per datatype; over all datatypes every combination of
        # byte order x scaling x NIfTI version occurs (keeps the test short).
        variants = [("<>"[n % 2], True, 1 + n % 2), ("><"[n % 2], False, 2 - n % 2),
                    ("<>"[(n // 2) % 2], n % 3 == 1, 1 + (n // 2) % 2)]
        for endian, scaled, v in variants:
            if True:
                if True:
                    cls, ext = (nib.Nifti2Image if v == 2 else nib.Nifti1Image), ".nii"
                    hdr = (nib.Nifti2Header if v == 2 else nib.Nifti1Header)(endianness=endian)
                    img = cls(arr, aff, header=hdr)
                    img.header.set_data_dtype(dt)
                    img.header.set_xyzt_units("mm", "msec" if n % 2 else "sec")
                    img.header["pixdim"][4] = 800.0 if n % 2 else 0.8
                    base = os.path.join(tmp, "syn_%s_%s_%s_v%d" % (
                        dt, "be" if endian == ">" else "le", "sc" if scaled else "raw", v))
                    path = base + ext
                    img.to_filename(path)
                    if scaled:
                        patch_scaling(path, 2.5, -3.0)
                    if n % 3 == 0:  # also gzip some of them
                        gzip_file(path, path + ".gz")
                        os.remove(path)
                        path += ".gz"
                    files.append(path)
    # .hdr/.img pair
    pair = nib.Nifti1Pair(rng.normal(size=(4, 3, 2, 3)).astype("f4"), aff)
    pair.to_filename(os.path.join(tmp, "pair.img"))
    files.append(os.path.join(tmp, "pair.hdr"))
    # slope 0 = no scaling, NaN slope = no scaling
    for slope, tag in ((0.0, "zero"), (float("nan"), "nan")):
        p = os.path.join(tmp, "slope_%s.nii" % tag)
        nib.Nifti1Image(rng.integers(0, 100, size=(3, 3, 3)).astype("i2"), aff).to_filename(p)
        patch_scaling(p, slope, 5.0)
        files.append(p)
    return files


def main():
    if not os.path.exists(DUMP):
        print("missing %s (build first)" % DUMP)
        return 1
    tmp = tempfile.mkdtemp(prefix="bs_nifti_golden_")
    try:
        real = [f for f in REAL_FILES if os.path.exists(f)]
        missing = sorted(set(REAL_FILES) - set(real))
        if missing:
            msg = "missing Debian data files: %s" % ", ".join(missing)
            if require:
                fail(msg)
            else:
                print("note: " + msg)
        for f in real:
            check_file(f, tmp)
        # Backward reads reopen the stream: same values expected.
        for f in real[:3]:
            check_file(f, tmp, reverse=True)
        for f in synthetic_files(tmp):
            check_file(f, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all NIfTI files match nibabel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
