"""nifti_bad_input.py - malformed NIfTI input gives the right status and a
one-line message naming the file and the problem; the writer is atomic and
what it writes reads back identically in nibabel.

Bad files are made here: truncation with `head -c` of real Debian files,
a wrong magic patched into a copy, unsupported datatypes from a tiny header
writer below.  nifti_dump exits with the bs_status code (io=3, format=4,
unsupported=5, data=10).
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

require = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
builddir = os.environ.get("top_builddir", ".")
DUMP = os.path.join(builddir, "tests", "nifti_dump")
NIPY_FUNC = "/usr/lib/python3/dist-packages/nipy/testing/functional.nii.gz"
NIB_FUNC = "/usr/lib/python3/dist-packages/nibabel/tests/data/functional.nii"

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def dump(*args):
    p = subprocess.run([DUMP] + list(args), capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def expect(label, args, code, *needles):
    rc, err = dump(*args)
    lines = err.splitlines()
    ok = rc == code and len(lines) == 1 and all(n in err for n in needles)
    print("%s %-28s rc=%d %s" % ("ok  " if ok else "FAIL", label, rc, err))
    if not ok:
        fail("%s: expected status %d and message containing %r, got rc=%d %r"
             % (label, code, needles, rc, err))


def tiny_nifti(path, datatype, bitpix, dims=(2, 2, 2)):
    """Minimal NIfTI-1 single file: header, empty extension, zero data."""
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    d = [len(dims)] + list(dims) + [1] * (7 - len(dims))
    struct.pack_into("<8h", hdr, 40, *d)
    struct.pack_into("<hh", hdr, 70, datatype, bitpix)
    struct.pack_into("<8f", hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", hdr, 108, 352.0)
    hdr[344:348] = b"n+1\0"
    n = 1
    for x in dims:
        n *= x
    with open(path, "wb") as f:
        f.write(bytes(hdr) + b"\0" * 4 + b"\0" * (n * bitpix // 8))


def main():
    if not os.path.exists(DUMP):
        print("missing %s" % DUMP)
        return 1
    for f in (NIPY_FUNC, NIB_FUNC):
        if not os.path.exists(f):
            print("skip: %s not installed" % f)
            return 1 if require else 77
    tmp = tempfile.mkdtemp(prefix="bs_nifti_bad_")
    try:
        j = lambda name: os.path.join(tmp, name)
        expect("missing file", [j("nope.nii.gz")], 3, j("nope.nii.gz"), "cannot open")
        expect("directory", [tmp], 3, tmp, "directory")

        size = os.path.getsize(NIPY_FUNC)
        subprocess.run("head -c %d %s > %s" % (size // 2, NIPY_FUNC, j("trunc.nii.gz")),
                       shell=True, check=True)
        expect("truncated .nii.gz", [j("trunc.nii.gz"), j("o.raw")], 4,
               j("trunc.nii.gz"), "truncated", "volume ", "(0-based) of 20")
        subprocess.run("head -c 100 %s > %s" % (NIPY_FUNC, j("trunc_hdr.nii.gz")),
                       shell=True, check=True)
        expect("truncated header (gz)", [j("trunc_hdr.nii.gz")], 4, j("trunc_hdr.nii.gz"), "header")
        size = os.path.getsize(NIB_FUNC)
        subprocess.run("head -c %d %s > %s" % (size - 1000, NIB_FUNC, j("trunc.nii")),
                       shell=True, check=True)
        expect("truncated .nii", [j("trunc.nii")], 4, j("trunc.nii"), "truncated", "volume 19 (0-based) of 20")

        shutil.copy(NIB_FUNC, j("magic.nii"))
        with open(j("magic.nii"), "r+b") as f:
            f.seek(344)
            f.write(b"XY1\0")
        expect("wrong magic", [j("magic.nii")], 4, j("magic.nii"), "magic", "XY1")
        with open(j("text.nii"), "w") as f:
            f.write("this is not an image\n" * 40)
        expect("not a NIfTI file", [j("text.nii")], 4, j("text.nii"), "sizeof_hdr")
        open(j("empty.nii"), "wb").close()
        expect("empty file", [j("empty.nii")], 4, j("empty.nii"), "0 bytes")

        tiny_nifti(j("complex.nii"), 32, 64)
        expect("complex64", [j("complex.nii")], 5, j("complex.nii"), "datatype", "32", "COMPLEX64")
        tiny_nifti(j("rgb.nii"), 128, 24)
        expect("RGB24", [j("rgb.nii")], 5, j("rgb.nii"), "datatype", "128", "RGB24")
        tiny_nifti(j("ok.nii"), 16, 32)
        rc, err = dump(j("ok.nii"), j("ok.raw"))
        if rc != 0 or os.path.getsize(j("ok.raw")) != 8 * 4:
            fail("tiny valid float32 file: rc=%d %s" % (rc, err))

        # Writer: bad values or datatypes fail and leave nothing behind.
        before = set(os.listdir(tmp))
        expect("write uint8 out of range", ["--write", j("w_bad.nii.gz"), "2", "negative"], 10,
               j("w_bad.nii.gz"), "does not fit uint8")
        expect("write int8 (unsupported)", ["--write", j("w_bad.nii"), "256"], 2,
               j("w_bad.nii"), "datatype 256")
        if set(os.listdir(tmp)) != before:
            fail("failed write left files: %s" % (set(os.listdir(tmp)) - before))
        expect("write to missing folder", ["--write", j("no/such/dir/x.nii"), "16"], 3, "no/such/dir")
        if set(os.listdir(tmp)) != before:
            fail("failed write left files: %s" % (set(os.listdir(tmp)) - before))

        # Writer output read back by nibabel.
        try:
            import numpy as np
            import nibabel as nib
        except ImportError as e:
            print("skip nibabel round trip: %s" % e)
            if require:
                fail("nibabel missing")
        else:
            for ext, dt in ((".nii.gz", 16), (".nii", 16), (".nii.gz", 4), (".nii", 2)):
                p = j("w%d%s" % (dt, ext))
                rc, err = dump("--write", p, str(dt))
                if rc:
                    fail("write %s: %s" % (p, err))
                    continue
                img = nib.load(p)
                i = np.arange(5 * 2 * 3 * 4, dtype=np.float64)
                ref = i if dt == 2 else 0.5 * i - 3
                if dt == 4:
                    ref = np.rint(ref)
                ref = ref.reshape(5, 2, 3, 4).transpose(3, 2, 1, 0)  # [t,z,y,x] -> x,y,z,t
                got = np.asanyarray(img.dataobj).astype(np.float64)
                aff = np.array([[-2, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1.0]])
                okv = got.shape == ref.shape and np.array_equal(got, ref)
                oka = np.allclose(img.affine, aff) and np.allclose(img.header.get_qform(), aff)
                tr = float(img.header["pixdim"][4])
                if not (okv and oka and abs(tr - 1.5) < 1e-6 and int(img.header["datatype"]) == dt
                        and int(img.header["sform_code"]) == 4):
                    fail("written %s does not read back in nibabel (values %s affine %s tr %g)"
                         % (p, okv, oka, tr))
                else:
                    print("ok   nibabel reads written %s" % os.path.basename(p))
            leftovers = [n for n in os.listdir(tmp) if ".tmp" in n]
            if leftovers:
                fail("temporary files left: %s" % leftovers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
